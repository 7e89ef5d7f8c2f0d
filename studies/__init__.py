"""The study app: studies, conditions and their kinds, participants and their trials,
stimulus import, background jobs that call the engine's API (pregeneration, documents, trees,
evaluation), the participant flow, the REST API, analysis and exports."""
