#!/usr/bin/env bash
# The whole test suite against real PostgreSQL and Redis (and a real Chromium for tests/e2e).
# DATABASE_URL / REDIS_URL default to the local servers (or those from `docker compose up -d`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium and chromium-driver for the browser tests"
    (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; })
  else
    echo "chromium is not installed: the browser tests will be skipped (apt-get install chromium)." >&2
  fi
fi

# The password is the docker compose default; a local trust-auth server ignores it.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:leadqual@127.0.0.1:5432/leadqual}"
# Tests use their own Redis database so they never see the app's queue or cache.
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"
export DJANGO_DEBUG="${DJANGO_DEBUG:-0}"
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-test-only-secret-not-for-production}"

.venv/bin/python scripts/wait_for_services.py
exec .venv/bin/python -m pytest "$@"
