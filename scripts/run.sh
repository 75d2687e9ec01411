#!/usr/bin/env bash
# Run leadqual with demo data on embedded PostgreSQL and Redis (pip wheels), a Celery worker and beat.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python scripts/run_embedded.py
