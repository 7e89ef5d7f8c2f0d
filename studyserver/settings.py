"""Settings of the study server, read from environment variables.

- ``DJANGO_DEBUG``: ``1`` turns debugging on; off unless set.
- ``DJANGO_SECRET_KEY``: the signing key. When unset, a random key is created once and kept in
  ``CWOX_SECRET_KEY_FILE`` (default ``./.secret_key``, mode 0600), so the embedded demo needs no
  configuration and never runs on a published key.
- ``DJANGO_ALLOWED_HOSTS``: comma-separated (default ``localhost,127.0.0.1``).
- ``DJANGO_CSRF_TRUSTED_ORIGINS``: comma-separated origins, e.g. ``https://study.example.org``.
- ``DJANGO_HTTPS``: ``1`` when served over HTTPS: secure cookies, HSTS (with preload unless
  ``DJANGO_HSTS_PRELOAD=0``), redirect to HTTPS behind a proxy setting ``X-Forwarded-Proto``.
- ``DATABASE_URL``: e.g. ``postgres://postgres@127.0.0.1:5432/cwox``; SQLite file in the
  project folder by default.
- ``CWOX_MEDIA_ROOT``: where stimulus files live (default ``./media``); never served publicly.
- ``CWOX_LOGIN_FAILURES`` / ``CWOX_LOGIN_COOLOFF_MINUTES``: researcher logins are locked per
  account and per client address after this many failures (default 5) for this long (default
  60); ``manage.py axes_reset_username NAME`` / ``axes_reset_ip ADDRESS`` unlock at once.
- ``CWOX_CLIENT_IP_HEADER``: behind a reverse proxy, the header holding the client's address
  (see ``studyserver/client_address.py``).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def _list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def _secret_key() -> str:
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    path = Path(os.environ.get("CWOX_SECRET_KEY_FILE", BASE_DIR / ".secret_key"))
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = _flag("DJANGO_DEBUG")
SECRET_KEY = _secret_key()
ALLOWED_HOSTS = _list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = _list("DJANGO_CSRF_TRUSTED_ORIGINS")

HTTPS = _flag("DJANGO_HTTPS")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and os.environ.get("DJANGO_HSTS_PRELOAD", "1") == "1"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "studies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp) on every page, the admin and the API included: scripts,
# styles and pictures from this server only, no inline script or event handler, no framing,
# forms post only here. The Swagger UI page loads its start script from its own URL
# (drf-spectacular's split view) for the same reason.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Researcher logins (django-axes): after CWOX_LOGIN_FAILURES failed attempts an account, and
# separately a client address, is locked for CWOX_LOGIN_COOLOFF_MINUTES; a success resets the
# count. Unlock at once with ``manage.py axes_reset_username NAME`` (or ``axes_reset_ip``,
# ``axes_reset`` for everything).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("CWOX_LOGIN_FAILURES", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("CWOX_LOGIN_COOLOFF_MINUTES", "60")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "studyserver.client_address.client_address"
AXES_VERBOSE = False

ROOT_URLCONF = "studyserver.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "studyserver.wsgi.application"
ASGI_APPLICATION = "studyserver.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no row locks: a transaction takes the write lock when it begins (waiting up
    # to 20 s for it), so simultaneous writers queue instead of failing with "database is
    # locked" when a reading transaction tries to start writing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# WhiteNoise serves the collected files (``manage.py collectstatic``) and, when they were not
# collected (the demo, tests), the files of the apps' static folders.
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("CWOX_MEDIA_ROOT", BASE_DIR / "media"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The researchers' API (``studies.api``, under /api/): staff only, read-only. Tokens are made in
# the admin ("Tokens") or with ``manage.py drf_create_token USER``.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "studies.api.pagination.StandardPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CWOX study server API",
    "DESCRIPTION": "Read-only access for researchers to studies, conditions, groups, stimulus "
    "items, participants' progress and trial responses. Staff users only.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"SideEnum": "studies.models.participants.SIDES"},
}

# ============================================================== Background jobs (Celery) ====
# Jobs (``studies.jobs``): pregenerate a study's stimuli in chunks shared by GPU workers, build
# documents, learn a tree, evaluate faithfulness. See docs/background-jobs.md.
# - ``CELERY_BROKER_URL``: e.g. ``redis://127.0.0.1:6379/0``. Empty (the embedded default): no
#   broker; jobs run in-process (``manage.py run_job``; the admin runs them in a thread).
# - ``CELERY_RESULT_BACKEND``: task results (default: the broker). Job state lives in the
#   database either way (``Job`` / ``JobChunk``).
# - ``CWOX_JOB_CHUNK_SIZE``: pair items per pregeneration chunk (default 8, one engine batch).
# - ``CWOX_JOB_TIME_LIMIT``: seconds one chunk may run (default 21600) before it fails.
# - ``CWOX_JOB_HEARTBEAT_SECONDS`` / ``CWOX_JOB_STALE_SECONDS``: a running chunk's worker
#   writes a heartbeat this often (default 10); a chunk without one for that long (default 60)
#   counts as abandoned and may be taken over by another worker.
# - ``CWOX_BROKER_VISIBILITY_TIMEOUT``: seconds after which Redis hands an unacknowledged task
#   of a vanished worker to another one (default: the time limit + 10 minutes, so that a task
#   that is still running is never handed out twice by the broker).
CWOX_JOB_CHUNK_SIZE = int(os.environ.get("CWOX_JOB_CHUNK_SIZE", "8"))
CWOX_JOB_TIME_LIMIT = int(os.environ.get("CWOX_JOB_TIME_LIMIT", str(6 * 3600)))
CWOX_JOB_HEARTBEAT_SECONDS = float(os.environ.get("CWOX_JOB_HEARTBEAT_SECONDS", "10"))
CWOX_JOB_STALE_SECONDS = float(os.environ.get("CWOX_JOB_STALE_SECONDS", "60"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL or None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(
        os.environ.get("CWOX_BROKER_VISIBILITY_TIMEOUT", str(CWOX_JOB_TIME_LIMIT + 600))
    ),
    # How often a worker looks for the tasks of vanished workers (seconds between scans).
    "unacked_restore_interval": int(os.environ.get("CWOX_BROKER_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged when done: a dead worker's task returns
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... at once when its pool process is killed
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a worker reserves one task at a time (long tasks)
CELERY_TASK_SOFT_TIME_LIMIT = CWOX_JOB_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = CWOX_JOB_TIME_LIMIT + 300
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_TASK_TRACK_STARTED = True
# ========================================================== end of Background jobs (Celery) ==
