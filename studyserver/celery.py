"""The Celery application of the study server: background jobs (:mod:`studies.jobs`).

Workers are plain ``celery -A studyserver worker`` processes (``docs/background-jobs.md``).
Configuration comes from the Django settings prefixed ``CELERY_`` (the "Background jobs
(Celery)" block at the end of ``studyserver/settings.py``). Without a broker
(``CELERY_BROKER_URL`` empty, the embedded default) nothing is ever sent: jobs run in-process.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyserver.settings")

app = Celery("studyserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["studies.jobs"])
