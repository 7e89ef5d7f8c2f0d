"""Django project of the study server: settings, URLs, the WSGI/ASGI entry points and the
Celery application of the background jobs (``celery -A studyserver worker``)."""

from studyserver.celery import app as celery_app

__all__ = ("celery_app",)
