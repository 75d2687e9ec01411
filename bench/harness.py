"""What every benchmark script needs around the app: a free port, gunicorn started and stopped,
and the other benchmarks running on this machine (so a timed phase can wait for them)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def start_celery_worker(
    env: dict, logfile: Path, *, concurrency: int, name: str | None = None
) -> tuple[subprocess.Popen, list[str]]:
    """A Celery worker of the app in its own session (so it can be stopped with its pool), its
    output in `logfile` (open as `proc.log_file`). Returns the process and its command line."""
    cmd = [str(VENV_BIN / "celery"), "-A", "leadqual", "worker", "-c", str(concurrency), "--loglevel=warning"]
    if name:
        cmd += ["-n", name]
    cmd += ["--without-gossip", "--without-mingle"]
    fh = open(logfile, "w")  # noqa: SIM115 - lives as long as the worker
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log_file = fh
    return proc, cmd


def add_database_args(ap, *, db: str, seed: int, redis_db: int = 11) -> None:
    """The options every benchmark with its own loaded database takes."""
    ap.add_argument("--db", default=db)
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--pg-user", default="postgres")
    ap.add_argument("--redis-port", type=int, default=6379)
    ap.add_argument("--redis-db", type=int, default=redis_db)
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--reuse", action="store_true", help="reuse a loaded database of the same shape")
    ap.add_argument("--keep", action="store_true", help="keep the database at the end")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(
    env: dict, port: int, logfile: Path, *, workers: int, threads: int = 1, log: Callable = _stderr
) -> subprocess.Popen:
    """gunicorn on 127.0.0.1 in its own session; returns once /healthz/ answers and every worker
    has booted. ``threads`` > 1 gives the gthread worker, 1 the sync worker."""
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "leadqual.wsgi",
        "-b",
        f"{HOST}:{port}",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--timeout",
        "120",
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
    ]
    log(f"gunicorn: {' '.join(cmd[1:])}")
    fh = open(logfile, "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {logfile}")
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=2)
            c.request("GET", "/healthz/")
            if c.getresponse().status == 200:
                c.close()
                booted = time.time() + 30
                while len(psutil.Process(proc.pid).children()) < workers and time.time() < booted:
                    time.sleep(0.1)
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up within 60 s")


def stop_process(
    proc: subprocess.Popen | None, name: str = "process", timeout: float = 30, log: Callable = _stderr
) -> None:
    """SIGTERM to the process's session (it and its children), SIGKILL after ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop in {timeout} s; SIGKILL")
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def others_running(pattern: str) -> list[str]:
    """Command lines of other processes matching ``pattern`` (a regex), not this one or its parent."""
    out = subprocess.run(["pgrep", "-af", "bench/"], capture_output=True, text=True)
    me = {os.getpid(), os.getppid()}
    found = re.compile(pattern)
    return [
        line
        for line in out.stdout.splitlines()
        if line.strip() and int(line.split()[0]) not in me and "pgrep" not in line and found.search(line)
    ]
