#!/usr/bin/env bash
# Set everything up and run the demo study server on the embedded classifier:
# virtual environment, database, the demo study with pregenerated heatmaps (about a minute on a
# CPU with Grad-CAM; --explainer rise for RISE), a researcher account, then the server.
# Arguments go to `manage.py create_demo_study`. CWOX_PORT (default 8000) picks the port;
# CWOX_NO_SERVE=1 prepares everything and exits without starting the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
port="${CWOX_PORT:-8000}"
python=.venv/bin/python
$python manage.py migrate --noinput -v0
$python manage.py collectstatic --noinput -v0
$python manage.py create_demo_study "$@"
$python manage.py ensure_researcher
$python manage.py study_links demo --base-url "http://127.0.0.1:$port"
if [ "${CWOX_NO_SERVE:-0}" = 1 ]; then
  exit 0
fi
exec $python manage.py runserver --noreload "127.0.0.1:$port"
