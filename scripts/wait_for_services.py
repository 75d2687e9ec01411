"""Wait up to 60 s for PostgreSQL and Redis (as after `docker compose up -d`), then go on."""

import os
import sys
import time
from urllib.parse import urlparse

import psycopg2
import redis

deadline = time.monotonic() + 60
db_url = os.environ["DATABASE_URL"]
redis_url = os.environ["REDIS_URL"]


def wait(name, check):
    while True:
        try:
            check()
            return
        except Exception as exc:  # noqa: BLE001
            if time.monotonic() > deadline:
                sys.exit(f"{name} is not reachable: {exc}")
            time.sleep(1)


def check_pg():
    # Connect to the maintenance database: the test run creates its own test_* database.
    parsed = urlparse(db_url)
    psycopg2.connect(db_url.replace(parsed.path, "/postgres", 1) if parsed.path else db_url).close()


wait("PostgreSQL", check_pg)
wait("Redis", lambda: redis.Redis.from_url(redis_url).ping())
