#!/usr/bin/env bash
# Production-style start of the study server: gunicorn with studyserver/gunicorn.conf.py.
#
# Expects the settings in the environment (see README "Configuration" and
# studyserver/settings.py): DATABASE_URL (PostgreSQL), DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS,
# and usually DJANGO_CSRF_TRUSTED_ORIGINS, DJANGO_HTTPS=1 (behind a TLS-terminating proxy that
# sets X-Forwarded-Proto) and CWOX_MEDIA_ROOT. gunicorn's own settings (CWOX_BIND, CWOX_WORKERS,
# CWOX_THREADS, CWOX_ACCESS_LOG, CWOX_FORWARDED_ALLOW_IPS, ...) are described in
# studyserver/gunicorn.conf.py.
#
# Steps: virtual environment (scripts/setup.sh), deployment checks, migrate, collectstatic, then
# gunicorn replaces this shell (exec), so that signals from the process manager reach it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for name in DATABASE_URL DJANGO_SECRET_KEY DJANGO_ALLOWED_HOSTS; do
  if [ -z "${!name:-}" ]; then
    missing+=("$name")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "serve.sh: set ${missing[*]} in the environment (see studyserver/settings.py)" >&2
  exit 2
fi
case "${DJANGO_DEBUG:-0}" in
  1 | true | yes | on)
    echo "serve.sh: DJANGO_DEBUG is on; production runs with debugging off" >&2
    exit 2
    ;;
esac

bash scripts/setup.sh
python=.venv/bin/python
# Warnings (e.g. no HTTPS settings when DJANGO_HTTPS is unset) are printed; errors stop here.
$python manage.py check --deploy
$python manage.py migrate --noinput
$python manage.py collectstatic --noinput -v0
exec .venv/bin/gunicorn -c studyserver/gunicorn.conf.py studyserver.wsgi
