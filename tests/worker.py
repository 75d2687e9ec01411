"""A real Celery worker on Redis, pointed at the test database, for the async-path tests."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from leadqual.celery import app

ROOT = Path(__file__).resolve().parent.parent
WORKER_APPLICATION_NAME = f"leadqual-test-worker-{os.getpid()}"


@contextmanager
def running_worker():
    db = settings.DATABASES["default"]
    # The worker must read the test database this process created, not the configured one.
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{host}/{connection.settings_dict['NAME']}"
        f"?application_name={WORKER_APPLICATION_NAME}"  # how tests tell its connections apart
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "0"}
    app.control.purge()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "leadqual",
            "worker",
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=warning",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start")
        yield worker
    finally:
        worker.terminate()
        worker.wait(15)
        # The worker keeps its connection between tasks; its backend ends a moment after the
        # process does. Wait for that, or the next test (or the test database's teardown)
        # may still see it.
        wait_until(lambda: not worker_backends(), seconds=10, interval=0.05)


def worker_backends() -> set[tuple[int, object]]:
    """(pid, backend_start) of the PostgreSQL backends serving the test worker."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s",
            [WORKER_APPLICATION_NAME],
        )
        return set(cursor.fetchall())


def wait_until(predicate, seconds=60.0, interval=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
