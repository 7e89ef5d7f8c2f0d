"""The study app: studies, conditions, participants, trials, analysis (built in later issues)."""
