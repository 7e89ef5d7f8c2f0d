"""Background jobs: long engine work started from the admin or ``manage.py run_job``.

A :class:`~studies.jobs.models.Job` (pregenerate a study's stimuli, build documents, learn a
tree, evaluate faithfulness) is split into :class:`~studies.jobs.models.JobChunk` records, run
in steps (prepare → items → finish). The chunk records in the database are the source of truth
for progress, resume and "every item exactly once"; Celery only carries "run chunk N" messages.

- :mod:`studies.jobs.models` — Job and JobChunk, progress and ETA.
- :mod:`studies.jobs.claims` — leases on chunks: claim, heartbeat, complete, fail, release.
- :mod:`studies.jobs.kinds` — what each kind of job does per step
  (:mod:`studies.jobs.pregeneration`, :mod:`studies.jobs.engine_commands`).
- :mod:`studies.jobs.engine` — one engine command run in-process (through
  :mod:`studies.stimuli_pipeline`), with what it reported.
- :mod:`studies.jobs.state` — a job's state derived from its chunks.
- :mod:`studies.jobs.runner` — one chunk end to end; whole jobs in-process or in a thread.
- :mod:`studies.jobs.dispatch` — Celery messages for the chunks that are ready.
- :mod:`studies.jobs.control` — create, start, cancel and re-run jobs (admin and CLI).
- :mod:`studies.jobs.forms` — what the admin's study actions ask before starting a job.
- :mod:`studies.jobs.tasks` — the Celery task.

The engine (and torch) is imported only when a chunk runs, never when a job is created.
"""
