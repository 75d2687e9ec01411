#!/usr/bin/env python
"""Scoring pipeline benchmark: event-to-score latency, and a full rescore after activation.

Run from the repository root (see bench/README.md):

  .venv/bin/python bench/scoring.py --leads 10000 --keep          # small, builds the database
  .venv/bin/python bench/scoring.py --reuse                        # same data, drop it after
  .venv/bin/python bench/scoring.py --leads 1000000 --profile      # the issue's scale

Phases, in order (each can be skipped):
  load      a fresh database `leadqual_bench_scoring` (migrated), then by COPY: leads/4 companies,
            --leads leads, --interactions-per-lead x leads interactions over 90 days (see
            bench/scoring_data.py), indexes rebuilt, VACUUM ANALYZE. Skipped with --reuse when
            the database already holds data of the requested size.
  cold      the leads are scored for the first time the way production does it: activate a
            copy of the active model and run the full rescore (empty previous explanations, one
            ledger row per lead). Timed and reported like the warm run. Part of the load, so
            also skipped by --reuse.
  latency   (a) gunicorn -w 2 and a Celery worker -c 2; --events events (one per request, each
            for a distinct lead) POSTed to /api/v1/interactions/ at --rate per second; a poller
            thread on its own connection checks leads_lead every --poll-ms for scored_at >= the
            event's send time ("score updated") and stage = 'mql' ("MQL visible", for the
            demo_request events sent for fresh good-fit leads). Afterwards every scored
            explanation must contain the event's interaction id.
  rescore   (b) a fresh worker -c 2; activate a new model (the active definition with another
            mql_engagement_threshold) and time activation commit -> RescoreJob.status 'done',
            sampling RescoreJob.done and the RSS of every worker process each second; then check
            that every lead carries the new model_version. --profile records py-spy (wall
            clock, --idle) on both pool processes during the run and prints where time goes.

Results: a markdown summary on stdout, JSON in bench/results/scoring-<stamp>.json. Only
127.0.0.1 is contacted; every loop has a count and a deadline. The Redis db (--redis-db, 10)
is flushed at the end and the database dropped unless --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import random
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg2
import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402 - bench/harness.py: port, gunicorn, other benchmarks
import scoring_data  # noqa: E402
import scoring_profile  # noqa: E402
from harness import free_port  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
HOST = "127.0.0.1"
TARGETS = {"score_p95_s": 2.0, "mql_p95_s": 5.0, "rescore_s": 120.0}
REDIS_OWNER_KEY = "leadqual-bench-scoring:owner"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values, p: float):
    """Nearest-rank percentile."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def r3(v):
    return None if v is None else round(v, 3)


# --------------------------------------------------------------------------------------------
# Environment, database, Redis
# --------------------------------------------------------------------------------------------


def make_env(args) -> dict:
    env = dict(os.environ)
    redis_url = f"redis://{HOST}:6379/{args.redis_db}"
    env.update(
        DATABASE_URL=f"postgres://postgres@{HOST}:5432/{args.db}",
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        DJANGO_SECRET_KEY="bench-scoring-" + secrets.token_urlsafe(32),
        DJANGO_DEBUG="0",
        LEADQUAL_API_RATE="100000000/min",
        DJANGO_SETTINGS_MODULE="leadqual.settings",
        CELERY_TASK_ALWAYS_EAGER="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def pg(db: str, autocommit: bool = False):
    conn = psycopg2.connect(host=HOST, port=5432, user="postgres", dbname=db)
    conn.autocommit = autocommit
    return conn


PREWARMED = ("leads_lead", "leads_interaction", "leads_company")


def prewarm(db: str) -> dict:
    """Read the scored tables and their indexes into shared_buffers (pg_prewarm).

    On this machine the kernel drops file pages that have not been touched for a while, so a
    table read again minutes later comes from the virtual disk (0.4 to 1.5 ms per 8 KB block,
    measured with track_io_timing) and a rescore turns I/O-bound. Prewarming makes runs
    comparable; it only helps where shared_buffers can hold the data."""
    conn = pg(db, True)
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        cur.execute(
            "SELECT coalesce(sum(pg_prewarm(c.oid)), 0) FROM pg_class c"
            " LEFT JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.oid = ANY(%s::regclass[]) OR i.indrelid = ANY(%s::regclass[])",
            [list(PREWARMED), list(PREWARMED)],
        )
        blocks = cur.fetchone()[0]
    conn.close()
    seconds = time.perf_counter() - t0
    log(f"prewarm: {blocks:,} blocks in {seconds:.1f} s")
    return {"blocks": int(blocks), "seconds": round(seconds, 1)}


def database_exists(db: str) -> bool:
    conn = pg("postgres", True)
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db])
        found = cur.fetchone() is not None
    conn.close()
    return found


def drop_database(db: str) -> None:
    conn = pg("postgres", True)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    conn.close()


def create_database(db: str) -> None:
    drop_database(db)
    conn = pg("postgres", True)
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()


def manage(env: dict, *argv: str, timeout: float = 900) -> str:
    out = subprocess.run(
        [PYTHON, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


META_TABLE = "bench_scoring_meta"


def read_meta(db: str) -> dict | None:
    if not database_exists(db):
        return None
    conn = pg(db, True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", [META_TABLE])
            if cur.fetchone()[0] is None:
                return None
            cur.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'dataset'")
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def write_meta(db: str, value: dict) -> None:
    conn = pg(db, True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value jsonb NOT NULL)")
        cur.execute(
            f"INSERT INTO {META_TABLE} VALUES ('dataset', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(value)],
        )
    conn.close()


def claim_redis(args) -> redis.Redis:
    r = redis.Redis(host=HOST, port=6379, db=args.redis_db)
    if r.dbsize() and not r.exists(REDIS_OWNER_KEY):
        raise SystemExit(f"Redis db {args.redis_db} holds someone else's keys; pick --redis-db")
    r.flushdb()
    r.set(REDIS_OWNER_KEY, str(os.getpid()))
    return r


def db_sizes(db: str) -> dict:
    conn = pg(db, True)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        total = cur.fetchone()[0]
        out = {"database_gb": round(total / 2**30, 2)}
        for t in ("leads_lead", "leads_interaction", "scoring_scorechange"):
            cur.execute("SELECT pg_total_relation_size(%s)", [t])
            out[f"{t}_gb"] = round(cur.fetchone()[0] / 2**30, 2)
    conn.close()
    return out


# --------------------------------------------------------------------------------------------
# Other people's benchmarks: wait for them before anything heavy
# --------------------------------------------------------------------------------------------


OTHER_BENCH = re.compile(r"bench/(?!scoring)[a-z_]+\.py")


def others_running() -> list[str]:
    """Other benchmarks (bench/ingest.py, bench/pages.py, ...) running on this machine."""
    return harness.others_running(OTHER_BENCH.pattern)


WAITS: list[dict] = []


def stop_process(proc: subprocess.Popen | None, name: str, timeout: float = 30) -> None:
    harness.stop_process(proc, name, timeout, log=log)


def wait_for_others(args, what: str) -> None:
    """Wait (poll every 30 s, at most --wait-max) while another benchmark runs. Past the limit:
    abort with --abort-if-busy, else go on and record the phase as contended."""
    if args.no_wait:
        return
    t0 = time.monotonic()
    while True:
        running = others_running()
        if not running:
            WAITS.append({"phase": what, "waited_s": round(time.monotonic() - t0), "others": []})
            return
        if time.monotonic() - t0 > args.wait_max:
            WAITS.append({"phase": what, "waited_s": round(time.monotonic() - t0), "others": running})
            if args.abort_if_busy:
                raise SystemExit(f"another benchmark still runs after {args.wait_max} s; no {what}")
            log(
                f"another benchmark still runs after {args.wait_max:.0f} s;"
                f" starting {what} anyway (contended)"
            )
            return
        log(f"waiting for another benchmark before {what}: {running[0][:120]}")
        time.sleep(30)


# --------------------------------------------------------------------------------------------
# Processes: Celery worker, gunicorn
# --------------------------------------------------------------------------------------------


class Worker:
    """`celery -A leadqual worker -c 2` (prefork) with our env; RSS/CPU of its processes."""

    def __init__(self, args, env, logfile: Path):
        self.name = f"bench-scoring-{os.getpid()}-{secrets.token_hex(3)}@%h"
        self.proc, cmd = harness.start_celery_worker(
            env, logfile, concurrency=args.concurrency, name=self.name
        )
        self.log = self.proc.log_file
        log(f"worker: {' '.join(cmd[1:])}")
        self.ps = psutil.Process(self.proc.pid)

    def children(self) -> list[psutil.Process]:
        try:
            return self.ps.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def wait_ready(self, app, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        want = self.name.split("@")[0]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.proc.returncode}; see {self.log.name}")
            try:
                replies = app.control.ping(timeout=1.0) or []
            except Exception:  # noqa: BLE001 - broker not ready yet
                replies = []
            if any(want in name for reply in replies for name in reply):
                if len(self.children()) >= 1:
                    return
            time.sleep(0.5)
        raise RuntimeError("celery worker did not answer a ping within the timeout")

    def stop(self) -> None:
        stop_process(self.proc, "celery worker")
        self.log.close()


def proc_cpu(procs) -> dict[int, float]:
    out = {}
    for p in procs:
        try:
            c = p.cpu_times()
            out[p.pid] = c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return out


def cpu_delta(a: dict[int, float], b: dict[int, float]) -> float:
    return round(sum(v - a.get(pid, 0.0) for pid, v in b.items()), 1)


def me_cpu() -> float:
    c = psutil.Process().cpu_times()
    return c.user + c.system + c.children_user + c.children_system


def machine_busy(a, b) -> float:
    return (sum(b) - b.idle - b.iowait) - (sum(a) - a.idle - a.iowait)


def cpu_report(*, machine, **parts) -> dict:
    """CPU seconds per party, and what the rest of the machine (other people's runs) used."""
    out = {k: round(v, 1) for k, v in parts.items()}
    busy = machine_busy(*machine)
    out["machine_busy"] = round(busy, 1)
    out["other"] = round(busy - sum(parts.values()), 1)
    return out


class BackendSampler(threading.Thread):
    """CPU of the PostgreSQL backends serving the bench database, sampled every `every` s.

    A backend that ends between two samples loses its CPU after the last one (the bench's own
    short connections, a worker connection past CONN_MAX_AGE), so this is a lower bound. Unlike
    the cluster figure it excludes other people's databases.
    """

    def __init__(self, db: str, every: float = 0.1):
        super().__init__(daemon=True)
        self.db, self.every = db, every
        self.seen: dict[int, tuple[float, float]] = {}  # pid -> (first cpu, last cpu)
        self.halt = threading.Event()

    def run(self) -> None:
        conn = pg(self.db, True)
        cur = conn.cursor()
        procs: dict[int, psutil.Process] = {}
        while not self.halt.is_set():
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.db]
            )
            for (pid,) in cur.fetchall():
                try:
                    p = procs.get(pid) or procs.setdefault(pid, psutil.Process(pid))
                    c = p.cpu_times()
                    v = c.user + c.system
                except psutil.NoSuchProcess:
                    continue
                first = self.seen.get(pid, (v, v))[0]
                self.seen[pid] = (first, v)
            self.halt.wait(self.every)
        cur.close()
        conn.close()

    def stop(self, started_before: set[int] | None = None) -> float:
        """CPU used during the sampling (backends alive at the start count from their first
        sample, new ones from zero)."""
        self.halt.set()
        self.join(timeout=5)
        pre = started_before or set()
        return sum((last - first) if pid in pre else last for pid, (first, last) in self.seen.items())


def db_backend_pids(db: str) -> set[int]:
    conn = pg(db, True)
    with conn.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db])
        out = {p for (p,) in cur.fetchall()}
    conn.close()
    return out


_POSTMASTER: list[psutil.Process] = []


def postgres_cluster_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server's processes, ended ones included.

    Backends that ended during the run (the bench's own short connections; worker connections
    closed after CONN_MAX_AGE) are counted through the postmaster's reaped-children times. The
    cluster is shared, so this includes other users' backends (the bench waits for the other
    benchmark before heavy phases; "machine busy" shows what else ran).
    """
    if not _POSTMASTER:
        conn = pg("postgres", True)
        with conn.cursor() as cur:
            cur.execute("SHOW data_directory")
            datadir = cur.fetchone()[0]
        conn.close()
        pid = int(Path(datadir, "postmaster.pid").read_text().split()[0])
        _POSTMASTER.append(psutil.Process(pid))
    pm = _POSTMASTER[0]
    c = pm.cpu_times()
    total = c.user + c.system + c.children_user + c.children_system
    for child in pm.children():
        try:
            cc = child.cpu_times()
            total += cc.user + cc.system
        except psutil.NoSuchProcess:
            pass
    return total


# --------------------------------------------------------------------------------------------
# Django in this process (activation, the initial scoring of the latency leads, Celery ping)
# --------------------------------------------------------------------------------------------


def django_setup(env: dict):
    for k in (
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "DJANGO_SECRET_KEY",
        "DJANGO_DEBUG",
        "LEADQUAL_API_RATE",
        "DJANGO_SETTINGS_MODULE",
        "CELERY_TASK_ALWAYS_EAGER",
    ):
        os.environ[k] = env[k]
    os.environ["DATABASE_CONN_MAX_AGE"] = "0"
    import django

    django.setup()
    from leadqual.celery import app

    return app


# --------------------------------------------------------------------------------------------
# (b) full rescore after activating a model
# --------------------------------------------------------------------------------------------


POINTS_FACTOR = 1.25


def next_definition(
    active_def: dict, label: str, change: str = "threshold", scaled_up: bool = False
) -> tuple[dict, float]:
    """The model the run activates. "threshold": 5 points lower (scores stay, so on a vacuumed
    table many rewrites are HOT). "points": every rule's points x 1.25, or / 1.25 when the active
    model was the scaled-up one, so every engaged lead's indexed scores move: the costlier case."""
    definition = json.loads(json.dumps(active_def))
    current = float(definition.get("mql_engagement_threshold", 50))
    if label == "cold":
        new = current  # the first scoring: same rules, the leads just get their scores
    elif change == "points":
        new = current
        factor = 1 / POINTS_FACTOR if scaled_up else POINTS_FACTOR
        for rule in definition["rules"]:
            rule["points"] = rule["points"] * factor
    else:
        new = current - 5 if current > 25 else 50.0
    definition["mql_engagement_threshold"] = new
    return definition, new


def wait_for_vacuum(conn, label: str, appear_s: float = 15, finish_s: float = 600) -> float | None:
    """The job queues VACUUM (ANALYZE) leads_lead when it is done (scoring/services.py); wait for
    it and return how long it ran (None if it never showed up), so it is reported, not hidden."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND query ILIKE 'VACUUM%%leads_lead%%' AND state = 'active'"
    )
    t0 = time.time()
    seen = None
    with conn.cursor() as cur:
        while time.time() - t0 < appear_s + finish_s:
            cur.execute(sql)
            running = cur.fetchone()[0] > 0
            conn.commit()
            if running and seen is None:
                seen = time.time()
            if not running and (seen is not None or time.time() - t0 > appear_s):
                break
            time.sleep(0.2)
    took = round(time.time() - seen, 1) if seen else None
    log(f"rescore[{label}]: VACUUM of leads after the job: {took} s")
    return took


def run_rescore(args, env, app, results_dir: Path, stamp: str, label: str) -> dict:
    from django.db import connections

    from scoring import services
    from scoring.models import ScoringModel

    conn = pg(args.db, True)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM scoring_rescorejob WHERE status IN ('queued', 'running')")
        if cur.fetchone()[0]:
            raise RuntimeError("a rescore job is still queued or running in the bench database")
        cur.execute("SELECT count(*), count(*) FILTER (WHERE needs_rescore) FROM leads_lead")
        n_leads, n_marked = cur.fetchone()
        cur.execute("SELECT count(*) FROM scoring_scorechange")
        ledger_before = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM handoff_stagechange")
        stage_change_max = cur.fetchone()[0]
    rds = redis.Redis(host=HOST, port=6379, db=args.redis_db)
    queued = rds.llen("celery")
    if queued:
        log(f"rescore[{label}]: {queued} messages left in the queue; purging them")
        rds.delete("celery")

    worker = Worker(args, env, results_dir / f"scoring-celery-{label}-{stamp}.log")
    res: dict = {"label": label, "leads": n_leads, "marked_before": n_marked}
    profiler = None
    try:
        worker.wait_ready(app)
        kids = worker.children()
        res["worker_pids"] = {"main": worker.proc.pid, "pool": [k.pid for k in kids]}
        log(f"rescore[{label}]: worker ready, pool processes {[k.pid for k in kids]}")

        active = ScoringModel.objects.get(status=ScoringModel.Status.ACTIVE)
        change = "threshold" if label == "cold" else args.change
        scaled_up = active.name.endswith(" x1.25")
        definition, threshold = next_definition(active.definition, label, change, scaled_up)
        suffix = (" /1.25" if scaled_up else " x1.25") if change == "points" else ""
        draft = services.scoring_model_create_draft(
            name=f"bench {label} {stamp}{suffix}", definition=definition
        )
        res["model"] = {
            "from_version": active.version,
            "version": draft.version,
            "change": change,
            "mql_engagement_threshold": threshold,
        }
        procs_all = [worker.ps, *kids]
        cpu0_w, cpu0_pg, cpu0_machine = proc_cpu(procs_all), postgres_cluster_cpu(), psutil.cpu_times()
        cpu0_me = me_cpu()
        pre_pids = db_backend_pids(args.db)
        sampler = BackendSampler(args.db)
        sampler.start()
        t_call = time.time()
        job = services.scoring_model_activate(model=draft)
        t_commit = time.time()
        connections.close_all()
        res["job_id"] = job.pk
        res["activate_call_s"] = round(t_commit - t_call, 3)
        log(f"rescore[{label}]: model v{draft.version} active (threshold {threshold}), job {job.pk}")

        if args.profile and label == "warm":
            profiler = scoring_profile.Recorder(
                results_dir / f"scoring-profile-{stamp}", rate=args.profile_rate
            )

        samples, peak_rss, peak_total, peak_pss_total = [], {}, 0, 0
        status, deadline = "queued", t_commit + args.rescore_timeout
        last = None
        with conn.cursor() as cur:
            while True:
                now = time.time()
                cur.execute(
                    "SELECT status, done, total, promoted, error, started_at, finished_at"
                    " FROM scoring_rescorejob WHERE id = %s",
                    [job.pk],
                )
                status, done, total, promoted, error, started_at, finished_at = cur.fetchone()
                kids = worker.children()
                rss = {}
                pss_total = 0
                for k in kids:
                    try:
                        rss[k.pid] = k.memory_info().rss
                        if args.pss:
                            pss_total += k.memory_full_info().pss
                    except psutil.NoSuchProcess:
                        pass
                for pid, v in rss.items():
                    peak_rss[pid] = max(peak_rss.get(pid, 0), v)
                peak_total = max(peak_total, sum(rss.values()))
                peak_pss_total = max(peak_pss_total, pss_total)
                samples.append((round(now - t_commit, 2), done, round(sum(rss.values()) / 2**20)))
                if (
                    profiler
                    and not profiler.started
                    and now - t_commit >= args.profile_delay
                    and done < total
                ):
                    profiler.start([k.pid for k in kids], args.profile_seconds)
                if done != last:
                    last = done
                if status in ("done", "failed"):
                    break
                if now > deadline:
                    log(f"rescore[{label}]: timeout after {args.rescore_timeout} s at {done}/{total}")
                    break
                if worker.proc.poll() is not None:
                    log(f"rescore[{label}]: worker died ({worker.proc.returncode})")
                    break
                if len(samples) % 10 == 0:
                    log(
                        f"rescore[{label}]: {now - t_commit:6.0f} s  {done:>9,}/{total:,}  status {status}"
                        f"  pool RSS {sum(rss.values()) / 2**20:.0f} MiB"
                    )
                time.sleep(args.sample_s)
        cpu1_w, cpu1_pg, cpu1_machine = proc_cpu(procs_all), postgres_cluster_cpu(), psutil.cpu_times()
        db_pg = sampler.stop(pre_pids)
        end = finished_at.timestamp() if finished_at else time.time()
        elapsed = end - t_commit
        res.update(
            status=status,
            error=error or "",
            total=total,
            done=done,
            promoted=promoted,
            seconds=round(elapsed, 1),
            plan_s=round(started_at.timestamp() - t_commit, 2) if started_at else None,
            leads_per_s=round(done / elapsed) if elapsed > 0 else None,
            peak_rss_mib_per_process={str(p): round(v / 2**20) for p, v in peak_rss.items()},
            peak_rss_mib_pool_total=round(peak_total / 2**20),
            peak_pss_mib_pool_total=round(peak_pss_total / 2**20) if args.pss else None,
            main_rss_mib=round(worker.ps.memory_info().rss / 2**20),
            curve=samples,
            cpu_s=cpu_report(
                worker=cpu_delta(cpu0_w, cpu1_w),
                postgres=cpu1_pg - cpu0_pg,
                client=me_cpu() - cpu0_me,
                machine=(cpu0_machine, cpu1_machine),
            ),
            postgres_bench_db_backends_cpu_s_lower_bound=round(db_pg, 1),
            # The Celery main process (receives and dispatches the chunk tasks) apart from the pool.
            worker_cpu_s_main=round(cpu1_w.get(worker.ps.pid, 0.0) - cpu0_w.get(worker.ps.pid, 0.0), 1),
        )
        log(
            f"rescore[{label}]: {status} {done:,}/{total:,} in {elapsed:.1f} s"
            f" ({res['leads_per_s']} leads/s); peak pool RSS {res['peak_rss_mib_pool_total']} MiB"
        )
        if profiler:
            res["profile"] = profiler.finish()
        if status == "done":
            res["vacuum_after_s"] = wait_for_vacuum(conn, label)

        # Correctness: every lead carries the new model's explanation, none is left marked.
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FILTER (WHERE score_explanation->>'model_version' = %s),"
                " count(*) FILTER (WHERE needs_rescore), count(*) FROM leads_lead",
                [str(draft.version)],
            )
            with_version, marked_after, n_after = cur.fetchone()
            cur.execute("SELECT count(*) FROM scoring_scorechange")
            ledger_after = cur.fetchone()[0]
            cur.execute(
                "SELECT count(*) FROM handoff_stagechange WHERE id > %s AND actor_label = 'scoring engine'",
                [stage_change_max],
            )
            promotions = cur.fetchone()[0]
            cur.execute(
                "SELECT count(*), count(*) FILTER (WHERE done_at IS NULL) FROM scoring_rescorechunk"
                " WHERE job_id = %s",
                [job.pk],
            )
            chunks, chunks_open = cur.fetchone()
        res["verify"] = {
            "leads": n_after,
            "with_new_model_version": with_version,
            "all_leads_rescored": with_version == n_after,
            "still_marked": marked_after,
            "ledger_rows_added": ledger_after - ledger_before,
            "promotions_to_mql": promotions,
            "chunks": chunks,
            "chunks_open": chunks_open,
        }
        log(f"rescore[{label}]: verify {res['verify']}")
    finally:
        if profiler:
            profiler.stop()
        worker.stop()
        conn.close()
    return res


# --------------------------------------------------------------------------------------------
# (a) event -> score latency
# --------------------------------------------------------------------------------------------

FIT_TITLES = ("VP of Engineering", "CTO", "Vice President, Sales", "Chief Marketing Officer")
EVENT_TYPES = (
    "page_view",
    "email_click",
    "pricing_page_view",
    "content_download",
    "webinar_registration",
    "email_open",
    "form_submission",
)


def latency_leads(args, stamp: str, n_fit: int, n_other: int) -> tuple[list, list]:
    """Fresh good-fit leads (scored once, no activity) + existing leads at random."""
    from django.db import connection, connections
    from psycopg2.extras import execute_values

    from leads.enrichment import department_from_title, seniority_from_title
    from scoring import services

    now = datetime.now(UTC)
    n_comp = max(1, n_fit // 10)
    tag = stamp.replace("-", "")
    with connection.cursor() as cur:
        execute_values(
            cur.cursor,
            "INSERT INTO leads_company (name, domain, industry, employee_count, annual_revenue, country,"
            " created_at, updated_at) VALUES %s RETURNING id",
            [
                (f"Fitcorp {k}", f"fitcorp{tag}-{k}.example", "software", 300, 40_000_000, "US", now, now)
                for k in range(n_comp)
            ],
            fetch=True,
        )
        cur.execute("SELECT id, domain FROM leads_company WHERE domain LIKE %s", [f"fitcorp{tag}-%"])
        comp = dict(cur.fetchall())
        comp_ids = sorted(comp)
        rows = []
        for i in range(n_fit):
            cid = comp_ids[i % len(comp_ids)]
            title = FIT_TITLES[i % len(FIT_TITLES)]
            rows.append(
                (
                    f"fit.{i}.{tag}@{comp[cid]}",
                    "Fit",
                    f"Lead {i}",
                    title,
                    seniority_from_title(title),
                    department_from_title(title),
                    "",
                    "US",
                    "paid_search",
                    "google",
                    "cpc",
                    "q4-abm",
                    True,
                    "{}",
                    "lead",
                    0,
                    "D",
                    0,
                    0,
                    "{}",
                    True,
                    now,
                    now,
                    cid,
                )
            )
        fit = execute_values(
            cur.cursor,
            "INSERT INTO leads_lead (email, first_name, last_name, job_title, seniority, department,"
            " phone, country, source, utm_source, utm_medium, utm_campaign, consent_email_marketing,"
            " attributes, stage, fit_score, fit_grade, engagement_score, score, score_explanation,"
            " needs_rescore, created_at, updated_at, company_id) VALUES %s RETURNING id, email",
            rows,
            fetch=True,
            page_size=1000,
        )
    # Scored like any new lead (in this process; no worker is running yet).
    out = services.leads_rescore(lead_ids=[i for i, _ in fit])
    log(f"latency: {len(fit)} good-fit leads created and scored ({out})")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, email FROM leads_lead WHERE stage IN ('lead', 'subscriber', 'mql', 'sal')"
            " AND NOT needs_rescore AND scored_at IS NOT NULL AND NOT (email LIKE 'fit.%%')"
            " ORDER BY random() LIMIT %s",
            [n_other],
        )
        other = cur.fetchall()
        cur.execute(
            "SELECT count(*) FROM leads_lead WHERE id = ANY(%s) AND fit_grade = 'A'", [[i for i, _ in fit]]
        )
        grade_a = cur.fetchone()[0]
    connections.close_all()
    if grade_a != len(fit):
        log(f"latency: only {grade_a}/{len(fit)} fit leads are grade A")
    if len(other) < n_other:
        raise RuntimeError(f"only {len(other)} existing leads available for {n_other} events")
    return list(fit), list(other)


def event_payload(rng: random.Random, email: str, type_: str, ext: str) -> dict:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    props = {
        "page_view": {"url": "https://www.leadqual.example/product/scoring", "duration_seconds": 42},
        "pricing_page_view": {"url": "https://www.leadqual.example/pricing", "duration_seconds": 90},
        "content_download": {"asset": "roi-calculator.xlsx", "asset_stage": "decision"},
        "demo_request": {"form": "demo", "page": "/demo"},
    }.get(type_, {"campaign": "q4-nurture", "form": "contact"})
    return {"email": email, "type": type_, "occurred_at": now, "properties": props, "external_id": ext}


def run_latency(args, env, app, results_dir: Path, stamp: str) -> dict:
    rng = random.Random(args.seed + 1)
    n_mql = round(args.events * args.mql_share)
    fit, other = latency_leads(args, stamp, n_mql, args.events - n_mql)
    plan = [(lid, email, "demo_request", True) for lid, email in fit]
    plan += [(lid, email, rng.choice(EVENT_TYPES), False) for lid, email in other]
    rng.shuffle(plan)
    api_key = manage(env, "create_api_key", f"bench-scoring-{stamp}").strip().splitlines()[-1]

    port = args.port or free_port()
    gunicorn = harness.start_gunicorn(
        env, port, results_dir / f"scoring-gunicorn-{stamp}.log", workers=args.gunicorn_workers, log=log
    )
    worker = Worker(args, env, results_dir / f"scoring-celery-latency-{stamp}.log")
    res: dict = {"events": len(plan), "mql_events": n_mql, "rate_per_s": args.rate}
    try:
        worker.wait_ready(app)
        # warm-up: a few requests so both gunicorn workers have imported everything
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        warm = http.client.HTTPConnection(HOST, port, timeout=30)
        for _ in range(6):
            warm.request("GET", "/api/v1/leads/?page_size=1", headers=headers)
            warm.getresponse().read()
        warm.close()

        n = len(plan)
        sent = [None] * n  # wall-clock send time (time.time())
        answered = [None] * n
        status = [None] * n
        interaction_ids = [None] * n
        seen_score = [None] * n
        seen_mql = [None] * n
        scored_at = [None] * n
        lock = threading.Lock()
        nxt = [0]
        t0 = time.time() + 0.5
        stop = threading.Event()

        def sender():
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            while not stop.is_set():
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= n:
                    break
                due = t0 + i / args.rate
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
                lid, email, type_, _ = plan[i]
                body = json.dumps(event_payload(rng, email, type_, f"lat-{stamp}-{i}")).encode()
                sent[i] = time.time()
                try:
                    conn.request("POST", "/api/v1/interactions/", body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status[i] = resp.status
                    if resp.status in (200, 201):
                        interaction_ids[i] = json.loads(data).get("id")
                except (OSError, http.client.HTTPException) as exc:
                    status[i] = f"error: {exc!r}"
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=30)
                answered[i] = time.time()
            conn.close()

        index_of = {plan[i][0]: i for i in range(n)}
        polls = [0]

        def poller():
            pconn = pg(args.db, True)
            cur = pconn.cursor()
            deadline_hard = t0 + n / args.rate + args.event_timeout + 30
            while time.time() < deadline_hard:
                pending = [
                    plan[i][0]
                    for i in range(n)
                    if sent[i] is not None and (seen_score[i] is None or (plan[i][3] and seen_mql[i] is None))
                ]
                if not pending and all(s is not None for s in sent):
                    break
                if stop.is_set() and not pending:
                    break
                if pending:
                    t = time.time()
                    cur.execute("SELECT id, scored_at, stage FROM leads_lead WHERE id = ANY(%s)", [pending])
                    polls[0] += 1
                    for lid, sat, stage in cur.fetchall():
                        i = index_of[lid]
                        if seen_score[i] is None and sat is not None and sat.timestamp() >= sent[i]:
                            seen_score[i] = t
                            scored_at[i] = sat.timestamp()
                        if plan[i][3] and seen_mql[i] is None and stage == "mql":
                            seen_mql[i] = t
                time.sleep(args.poll_ms / 1000)
            cur.close()
            pconn.close()

        cpu0, m0, me0 = postgres_cluster_cpu(), psutil.cpu_times(), me_cpu()
        pre_pids = db_backend_pids(args.db)
        sampler = BackendSampler(args.db)
        sampler.start()
        gps = psutil.Process(gunicorn.pid)
        gcpu0 = proc_cpu([gps, *gps.children()])
        wcpu0 = proc_cpu([worker.ps, *worker.children()])
        senders = [threading.Thread(target=sender, daemon=True) for _ in range(args.senders)]
        pthread = threading.Thread(target=poller, daemon=True)
        pthread.start()
        for s in senders:
            s.start()
        log(f"latency: sending {n} events at {args.rate}/s ({n_mql} demo requests for good-fit leads)")
        send_deadline = t0 + n / args.rate + 60
        for s in senders:
            s.join(timeout=max(1, send_deadline - time.time()))
        stop.set()
        last_send = max((x for x in sent if x is not None), default=time.time())
        pthread.join(timeout=max(1, last_send + args.event_timeout + 35 - time.time()))
        cpu1, m1 = postgres_cluster_cpu(), psutil.cpu_times()
        db_pg = sampler.stop(pre_pids)
        gcpu1 = proc_cpu([gps, *gps.children()])
        wcpu1 = proc_cpu([worker.ps, *worker.children()])

        ok = [i for i in range(n) if status[i] in (200, 201)]
        score_lat = [seen_score[i] - sent[i] for i in ok if seen_score[i] is not None]
        mql_idx = [i for i in ok if plan[i][3]]
        mql_lat = [seen_mql[i] - sent[i] for i in mql_idx if seen_mql[i] is not None]
        commit_to_scored = [scored_at[i] - sent[i] for i in ok if scored_at[i] is not None]
        resp_time = [answered[i] - sent[i] for i in ok]
        actual_rate = (
            (len(ok) - 1) / (max(sent[i] for i in ok) - min(sent[i] for i in ok)) if len(ok) > 1 else None
        )

        # Every scored explanation must include the event: the score is the one after the event.
        conn = pg(args.db, True)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, score_explanation, stage, needs_rescore FROM leads_lead WHERE id = ANY(%s)",
                [[p[0] for p in plan]],
            )
            rows = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute(
                "SELECT count(*) FROM handoff_stagechange WHERE lead_id = ANY(%s) AND to_stage = 'mql'"
                " AND actor_label = 'scoring engine'",
                [[plan[i][0] for i in mql_idx]],
            )
            mql_stage_changes = cur.fetchone()[0]
        conn.close()
        missing_event = 0
        for i in ok:
            expl, _stage, _marked = rows[plan[i][0]]
            # Rules are stored as [key, units, raw, decayed, points, capped, event_ids] (or, before
            # the compact form, as objects with "event_ids").
            rules = (expl or {}).get("engagement", {}).get("rules", [])
            ids = {e for r in rules for e in (r[6] if isinstance(r, list) else r.get("event_ids", []))}
            if interaction_ids[i] not in ids:
                missing_event += 1

        def stats(values):
            return {
                "n": len(values),
                "p50_s": r3(pct(values, 50)),
                "p95_s": r3(pct(values, 95)),
                "p99_s": r3(pct(values, 99)),
                "max_s": r3(max(values) if values else None),
            }

        res.update(
            http_ok=len(ok),
            http_errors=n - len(ok),
            http_error_samples=[status[i] for i in range(n) if status[i] not in (200, 201)][:5],
            achieved_rate_per_s=round(actual_rate, 2) if actual_rate else None,
            post_response=stats(resp_time),
            score_updated=stats(score_lat),
            score_never=len(ok) - len(score_lat),
            scored_at_minus_sent=stats(commit_to_scored),
            mql_visible=stats(mql_lat),
            mql_never=len(mql_idx) - len(mql_lat),
            mql_stage_change_rows=mql_stage_changes,
            scored_without_the_event=missing_event,
            polls=polls[0],
            poll_ms=args.poll_ms,
            event_timeout_s=args.event_timeout,
            cpu_s=cpu_report(
                worker=cpu_delta(wcpu0, wcpu1),
                postgres=cpu1 - cpu0,
                gunicorn=cpu_delta(gcpu0, gcpu1),
                client=me_cpu() - me0,
                machine=(m0, m1),
            ),
            postgres_bench_db_backends_cpu_s_lower_bound=round(db_pg, 1),
            queue_left=redis.Redis(host=HOST, port=6379, db=args.redis_db).llen("celery"),
        )
        log(
            f"latency: score p50 {res['score_updated']['p50_s']} s p95 {res['score_updated']['p95_s']} s"
            f" max {res['score_updated']['max_s']} s, never {res['score_never']};"
            f" MQL p50 {res['mql_visible']['p50_s']} p95 {res['mql_visible']['p95_s']}"
            f" never {res['mql_never']}; missing event {missing_event}"
        )
    finally:
        stop_process(gunicorn, "gunicorn")
        worker.stop()
    return res


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def verdict(value, target) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value <= target else "FAIL"


def curve_summary(curve: list, windows: int = 10) -> list[dict]:
    """Throughput in about `windows` equal time windows: (window end s, done, leads/s in it)."""
    if len(curve) < 2:
        return []
    end = curve[-1][0]
    step = max(1.0, end / windows)
    out, prev_t, prev_d, edge = [], 0.0, 0, step
    for t, d, _ in curve:
        if t >= edge or (t, d) == tuple(curve[-1][:2]):
            out.append(
                {
                    "t_s": t,
                    "done": d,
                    "leads_per_s": round((d - prev_d) / (t - prev_t)) if t > prev_t else None,
                }
            )
            prev_t, prev_d = t, d
            while edge <= t:
                edge += step
    return out


def markdown(res: dict) -> str:
    lines = []
    m = res["machine"]
    lines.append(
        f"Machine: {m['cpus']} CPUs, {m['ram_gib']} GiB RAM, PostgreSQL shared_buffers "
        f"{m['shared_buffers']}, Python {m['python']}; engine.py sha256 {res['engine_sha256'][:12]}."
    )
    ds = res.get("dataset") or {}
    if ds:
        lines.append(
            f"Dataset: {ds.get('leads'):,} leads, {ds.get('companies'):,} companies, "
            f"{ds.get('interactions'):,} interactions ({ds.get('mean_interactions_per_lead')}/lead),"
            f" database {res.get('sizes', {}).get('database_gb')} GB."
        )
    contended = [w for w in res.get("waits", []) if w["others"]]
    if contended:
        lines.append(
            "Contended (another benchmark was still running after the wait): "
            + ", ".join(f"{w['phase']} ({OTHER_BENCH.search(w['others'][0]).group(0)})" for w in contended)
        )
    lines.append("")
    lat = res.get("latency")
    if lat:
        lines.append(
            f"(a) latency: {lat['events']} events at {lat['achieved_rate_per_s']}/s, one per request,"
            f" each for a distinct lead; {lat['mql_events']} demo requests by good-fit leads;"
            f" poll every {lat['poll_ms']} ms."
        )
        lines.append("")
        lines.append(
            "| measure | n | p50 s | p95 s | p99 s | max s | never (timeout "
            f"{lat['event_timeout_s']} s) | target | result |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for key, label, never, target in (
            ("score_updated", "event -> score updated", lat["score_never"], TARGETS["score_p95_s"]),
            ("mql_visible", "event -> MQL visible", lat["mql_never"], TARGETS["mql_p95_s"]),
            ("post_response", "POST response time", "", None),
        ):
            s = lat[key]
            lines.append(
                f"| {label} | {s['n']} | {s['p50_s']} | {s['p95_s']} | {s['p99_s']} | {s['max_s']}"
                f" | {never} |"
                f" {'p95 <= ' + str(target) + ' s' if target else ''} |"
                f" {verdict(s['p95_s'], target) if target and never == 0 else ('FAIL' if target else '')} |"
            )
        lines.append("")
        lines.append(
            f"HTTP errors {lat['http_errors']}; scored without the event {lat['scored_without_the_event']};"
            f" MQL StageChange rows {lat['mql_stage_change_rows']}/{lat['mql_events']};"
            " CPU s: "
            + ", ".join(f"{k} {v}" for k, v in lat["cpu_s"].items())
            + "; backends of the bench database >= "
            + f"{lat.get('postgres_bench_db_backends_cpu_s_lower_bound')}."
        )
        lines.append("")
    for key in ("cold", "warm"):
        rs = res.get(f"rescore_{key}")
        if not rs:
            continue
        v = rs["verify"]
        title = (
            "(b) full rescore after activating a model (leads already scored)"
            if key == "warm"
            else "first scoring of the loaded leads (activation, empty explanations)"
        )
        lines.append(
            f"{title}: v{rs['model']['from_version']} -> v{rs['model']['version']}"
            f" ({rs['model'].get('change', 'threshold')} change,"
            f" mql_engagement_threshold {rs['model']['mql_engagement_threshold']}), worker -c 2"
        )
        lines.append("")
        lines.append(
            "| leads | status | seconds | leads/s | plan s | peak RSS per pool process MiB |"
            " peak RSS pool total MiB | all rescored | ledger rows | promotions | target | result |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        per = ", ".join(str(x) for x in rs["peak_rss_mib_per_process"].values())
        lines.append(
            f"| {rs['total']:,} | {rs['status']} | {rs['seconds']} | {rs['leads_per_s']:,} | {rs['plan_s']}"
            f" | {per} |"
            f" {rs['peak_rss_mib_pool_total']} | {v['with_new_model_version']:,}/{v['leads']:,} |"
            f" {v['ledger_rows_added']:,} | {v['promotions_to_mql']:,} | <= {TARGETS['rescore_s']:.0f} s |"
            f" {verdict(rs['seconds'], TARGETS['rescore_s']) if v['all_leads_rescored'] else 'FAIL'} |"
        )
        lines.append("")
        lines.append(
            "CPU s during the run: "
            + ", ".join(f"{k} {v}" for k, v in rs["cpu_s"].items())
            + f" (of {2 * rs['seconds']:.0f} available; postgres = whole cluster, 'other' = the rest of"
            f" the machine); backends of the bench database >="
            f" {rs.get('postgres_bench_db_backends_cpu_s_lower_bound')};"
            f" worker main process CPU {rs.get('worker_cpu_s_main')} s, RSS {rs['main_rss_mib']} MiB."
        )
        if "vacuum_after_s" in rs:
            lines.append("")
            lines.append(
                f"Then VACUUM (ANALYZE) of leads, queued by the finished job: {rs['vacuum_after_s']} s"
                " (not in the seconds above; the next rescore starts on a vacuumed table)."
            )
        curve = curve_summary(rs["curve"])
        if curve:
            lines.append("")
            lines.append(
                "Progress (s: done, leads/s in the window): "
                + "; ".join(f"{c['t_s']:.0f}: {c['done']:,} ({c['leads_per_s']}/s)" for c in curve)
            )
        prof = rs.get("profile")
        if prof and prof.get("table"):
            lines.append("")
            lines.append(prof["table"])
        lines.append("")
    return "\n".join(lines)


def machine_info(args) -> dict:
    conn = pg("postgres", True)
    with conn.cursor() as cur:
        cur.execute("SHOW shared_buffers")
        sb = cur.fetchone()[0]
        cur.execute("SELECT version()")
        ver = cur.fetchone()[0].split(" on ")[0]
    conn.close()
    return {
        "cpus": psutil.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "postgres": ver,
        "shared_buffers": sb,
        "disk_free_gb": round(shutil.disk_usage(ROOT).free / 2**30, 1),
        "load_avg_at_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="leadqual_bench_scoring")
    ap.add_argument("--redis-db", type=int, default=10)
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--companies", type=int, default=None, help="default leads / 4")
    ap.add_argument("--interactions-per-lead", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--reuse", action="store_true", help="keep the loaded (and scored) data if it matches")
    ap.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    ap.add_argument(
        "--replace",
        action="store_true",
        help="reload even if the database holds a big dataset of another size",
    )
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument(
        "--prewarm", action="store_true", help="pg_prewarm the lead tables before the rescore (see prewarm())"
    )
    ap.add_argument("--skip-rescore", action="store_true")
    ap.add_argument(
        "--change",
        choices=("threshold", "points"),
        default="threshold",
        help="the activated model: MQL threshold -5 (scores stay) or every rule's points x/÷ 1.25",
    )
    ap.add_argument("--concurrency", type=int, default=2, help="celery worker -c")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0, help="events per second")
    ap.add_argument("--mql-share", type=float, default=0.25, help="share of events that are demo requests")
    ap.add_argument("--senders", type=int, default=4, help="client threads keeping the send schedule")
    ap.add_argument("--poll-ms", type=float, default=20.0)
    ap.add_argument("--event-timeout", type=float, default=60.0, help="seconds after the last send")
    ap.add_argument("--gunicorn-workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rescore-timeout", type=float, default=3600.0)
    ap.add_argument("--sample-s", type=float, default=1.0)
    ap.add_argument("--pss", action="store_true", help="also sample PSS (reads smaps each second)")
    ap.add_argument("--profile", action="store_true", help="py-spy the pool processes during the rescore")
    ap.add_argument("--profile-delay", type=float, default=10.0)
    ap.add_argument("--profile-seconds", type=float, default=30.0)
    ap.add_argument("--profile-rate", type=int, default=100)
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a running bench/ingest.py")
    ap.add_argument("--wait-max", type=float, default=900.0)
    ap.add_argument("--abort-if-busy", action="store_true", help="abort instead of running contended")
    ap.add_argument("--results-dir", default=str(BENCH / "results"))
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.companies = args.companies or max(1, args.leads // 4)
    n_interactions = int(round(args.leads * args.interactions_per_lead))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    env = make_env(args)
    disk = shutil.disk_usage(ROOT)
    need_gb = 1 + args.leads * 8e-6 + n_interactions * 0.6e-6
    if disk.free / 2**30 < need_gb * 2:
        raise SystemExit(f"only {disk.free / 2**30:.0f} GB free; the data needs about {need_gb:.0f} GB")
    res: dict = {
        "stamp": stamp,
        "args": vars(args),
        "machine": machine_info(args),
        "engine_sha256": hashlib.sha256((ROOT / "scoring" / "engine.py").read_bytes()).hexdigest(),
    }
    claim_redis(args)
    want = {
        "leads": args.leads,
        "companies": args.companies,
        "interactions": n_interactions,
        "seed": args.seed,
    }
    existing = read_meta(args.db)
    if existing and not args.replace and any(existing.get(k) != v for k, v in want.items()):
        if existing.get("leads", 0) >= 100_000:
            raise SystemExit(
                f"{args.db} holds another dataset ({existing.get('leads'):,} leads, loaded"
                f" {existing.get('loaded_at')}); use --db for a different size or --replace"
            )
    meta = existing if args.reuse else None
    loaded = bool(meta and all(meta.get(k) == v for k, v in want.items()))
    code = 0
    try:
        if loaded:
            log(
                f"reuse: {args.db} already holds {meta['leads']:,} leads"
                f" / {meta['interactions']:,} interactions"
                + ("" if meta.get("scored") else " (not scored yet: running the first scoring)")
            )
        else:
            if args.reuse:
                log("reuse: no matching data; loading")
            wait_for_others(args, "the load")
            create_database(args.db)
            log(f"migrate {args.db}")
            manage(env, "migrate", "--noinput")
            conn = pg(args.db)
            t0 = time.perf_counter()
            timings = scoring_data.load(
                conn,
                n_leads=args.leads,
                n_companies=args.companies,
                n_interactions=n_interactions,
                seed=args.seed,
                log=log,
            )
            conn.close()
            timings["total_s"] = round(time.perf_counter() - t0, 1)
            meta = {**want, **timings, "loaded_at": stamp, "scored": False}
            write_meta(args.db, meta)
        res["dataset"] = meta
        app = django_setup(env)
        if not meta.get("scored"):
            wait_for_others(args, "the first scoring")
            res["rescore_cold"] = run_rescore(args, env, app, results_dir, stamp, "cold")
            meta["scored"] = res["rescore_cold"]["verify"]["all_leads_rescored"]
            meta["cold"] = {k: res["rescore_cold"][k] for k in ("seconds", "leads_per_s", "status")}
            write_meta(args.db, meta)
        res["sizes"] = db_sizes(args.db)
        if not args.skip_latency:
            wait_for_others(args, "the latency run")
            res["latency"] = run_latency(args, env, app, results_dir, stamp)
        if not args.skip_rescore:
            wait_for_others(args, "the rescore")
            if args.prewarm:
                res["prewarm"] = prewarm(args.db)
            res["rescore_warm"] = run_rescore(args, env, app, results_dir, stamp, "warm")
        res["sizes_after"] = db_sizes(args.db)
    except Exception as exc:  # noqa: BLE001 - report what we have, then clean up
        import traceback

        traceback.print_exc()
        res["error"] = repr(exc)
        code = 1
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001
            pass
        r = redis.Redis(host=HOST, port=6379, db=args.redis_db)
        r.flushdb()
        if not args.keep:
            log(f"dropping {args.db}")
            drop_database(args.db)
        res["waits"] = WAITS
        out = results_dir / f"scoring-{stamp}.json"
        out.write_text(json.dumps(res, indent=2, default=str))
        log(f"results: {out}")
    print(markdown(res))
    return code


if __name__ == "__main__":
    sys.exit(main())
