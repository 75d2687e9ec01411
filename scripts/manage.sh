#!/usr/bin/env bash
# manage.py against the services `make run` started (embedded PostgreSQL and Redis), e.g.
#   make manage ARGS="create_api_key website-forms"
# Without a running `make run`, DATABASE_URL / REDIS_URL from the environment are used.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ -z "${DATABASE_URL:-}" ] && [ -f .local/run.env ]; then
  # shellcheck disable=SC1091
  . .local/run.env
fi
exec .venv/bin/python manage.py "$@"
