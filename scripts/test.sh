#!/usr/bin/env bash
# Set up, then run the linters and the whole test suite.
# The server tests run on PostgreSQL when it answers on 127.0.0.1:5432 (as in CI), so that the
# concurrency tests exercise real row locks; set DATABASE_URL to choose another database.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install-browser.sh
if [ -z "${DATABASE_URL:-}" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/cwox
fi
echo "database: ${DATABASE_URL:-SQLite}"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python manage.py check
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python -m pytest "$@"
