"""Background jobs: long engine work started from the admin or ``manage.py run_job``.

A :class:`~studies.jobs.models.Job` (pregenerate a study's stimuli, build documents, learn a
tree, evaluate faithfulness) is split into :class:`~studies.jobs.models.JobChunk` records, run
in steps (prepare → items → finish). The chunk records in the database are the source of truth
for progress, resume and "every item exactly once"; Celery only carries "run chunk N" messages.

- :mod:`studies.jobs.models` — Job and JobChunk, progress and ETA.
- :mod:`studies.jobs.claims` — leases on chunks: claim, heartbeat, complete, fail, release.
- :mod:`studies.jobs.kinds` — what a kind of job does per step, and the registry of kinds
  (:mod:`studies.jobs.pregeneration`, :mod:`studies.jobs.engine_commands` register theirs;
  ``StudiesConfig.ready`` imports them). Both call the engine's Python API in-process with
  typed settings that the job stores as JSON and checks again when a worker loads them.
- :mod:`studies.jobs.state` — a job's state derived from its chunks.
- :mod:`studies.jobs.runner` — one chunk end to end; whole jobs in-process or in a thread.
- :mod:`studies.jobs.dispatch` — Celery messages for the chunks that are ready.
- :mod:`studies.jobs.control` — create, start, cancel and re-run jobs (admin and CLI).
- :mod:`studies.jobs.forms` — what the admin's study actions ask before starting a job.
- :mod:`studies.jobs.tasks` — the Celery task.

Imports go one way (the import-graph test checks that there is no cycle): ``models`` reads
the kind registry, kinds use ``models``, the runner uses both, ``dispatch`` sends tasks by
name. Creating a job checks its settings against the engine's registries, so the engine (and
torch, without initialising CUDA) is loaded then.
"""
