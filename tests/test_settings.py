"""Without DJANGO_SECRET_KEY (and DEBUG off) the app must not serve, yet commands that sign
nothing must still run: CI checks for missing migrations without a secret."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    env["DJANGO_DEBUG"] = "0"
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_makemigrations_check_runs_without_a_secret_and_finds_no_missing_migration():
    done = _run("manage.py", "makemigrations", "--check", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No changes detected" in done.stdout


@pytest.mark.parametrize(
    "code",
    [
        "import leadqual.wsgi",
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'leadqual.settings');"
        " django.setup(); from leadqual.celery import _require_secret_key; _require_secret_key()",
    ],
)
def test_the_web_and_celery_processes_refuse_to_start_without_a_secret(code):
    done = _run("-c", code)
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in done.stderr
