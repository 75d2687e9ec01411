#!/usr/bin/env python
"""Analytics-page benchmark: /analytics/ and its drill-downs with 1,000,000 leads over three years.

Run from the repository root:  .venv/bin/python bench/analytics.py [--reuse] [--keep]

It creates its own database (default leadqual_bench_analytics), migrates it and loads by COPY,
with bench/pages_data.py (unchanged; no interactions beyond its 200 sampled leads), 1,000,000
leads created evenly over three years, their stage histories (promotions, hand-offs, accepts,
rejections, SQLs, wins, losses; ~0.9M changes), the score ledger and real score explanations
(the scoring rules); then, in SQL, one Assignment per hand-off (accepted / rejected / open, as the
lead's next change says) and closed-loop Outcomes for ~5 % of leads (won, converted, lost, not
converted, some for leads that never saw a hand-off). It starts gunicorn (2 sync workers) on
127.0.0.1, logs in as a marketer, waits until no other benchmark (bench/pages.py, scoring.py,
ingest.py) runs, and measures:

- the default page (last 90 days) WARM: its figures precomputed by the beat task, as in
  production; 20 warm-ups, then >= 200 sequential requests (p50/p95/p99);
- COLD pages: each a range nobody asked for before (90-day ranges ending on earlier days, then
  3-year ranges): the first response (the "computing" page) and the time until the figures,
  computed by the live SQL on a Celery worker (one, concurrency 1, started here), are shown;
- the same custom ranges WARM (second and later views, >= 200 requests);
- drill-downs (live SQL, 50 rows a page) for the funnel, a source, time in stage, an SDR's
  SLA, a rejection reason and a score band, >= 200 requests cycling over them;
- in-process (bench/pages_inproc.py): the queries each page runs and their EXPLAIN ANALYZE.

Prints a markdown table; writes JSON to bench/results/analytics-<timestamp>.json. Redis db 11
(flushed at start and end). The database is dropped at the end unless --keep; --reuse keeps a
loaded database of the same shape between runs. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
import psycopg2

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import harness  # noqa: E402 - bench/harness.py: port, gunicorn, other benchmarks
import pages  # noqa: E402 - bench/pages.py: database, gunicorn and HTTP helpers (reused as is)

DATA_VERSION = 1  # bump when the load below changes shape
TARGET_MS = 500.0
OTHER_BENCH = r"bench/(pages|scoring|ingest)\.py"


def log(msg: str) -> None:
    print(f"[analytics {datetime.now(UTC):%H:%M:%S}Z] {msg}", file=sys.stderr, flush=True)


pages.log = log


def others_running() -> list[str]:
    return harness.others_running(OTHER_BENCH)


def wait_quiet(max_wait_s: float, poll_s: float = 30) -> dict:
    """Wait for the other benchmarks to end and the load average to fall below 1.5."""
    t0 = time.time()
    first = others_running()
    while time.time() - t0 < max_wait_s:
        seen = others_running()
        load1 = os.getloadavg()[0]
        if not seen and load1 < 1.5:
            break
        log(f"waiting: {len(seen)} other benchmarks, load {load1:.2f}")
        time.sleep(poll_s)
    return {
        "waited_s": round(time.time() - t0, 1),
        "running_at_start": first,
        "still_running": others_running(),
        "loadavg_at_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------------------------

ASSIGNMENT_COLS = (
    "lead_id owner_id assigned_by_id routed status assigned_at sla_due_at escalate_at resolved_at "
    "escalated_at"
).split()
OUTCOME_COLS = "lead_id result occurred_at amount source external_id applied_action received_at".split()

# One Assignment per hand-off; its end is the lead's next change of stage (accept / reject), if any.
# The SLA deadline is 2-30 hours after the hand-off, so some decisions are on time and some late.
ASSIGNMENTS_SQL = """
INSERT INTO handoff_assignment (lead_id, owner_id, assigned_by_id, routed, status, assigned_at,
                                sla_due_at, escalate_at, resolved_at, escalated_at)
SELECT h.lead_id, h.owner_id, NULL, true,
       CASE nx.action WHEN 'accept' THEN 'accepted' WHEN 'reject' THEN 'rejected'
            ELSE CASE WHEN nx.action IS NULL THEN 'open' ELSE 'closed' END END,
       h.created_at, h.created_at + due.h, h.created_at + due.h + interval '4 hours',
       nx.created_at, NULL
FROM handoff_stagechange h
CROSS JOIN LATERAL (SELECT make_interval(hours => (2 + h.id * 7919 % 29)::int)) due(h)
LEFT JOIN LATERAL (
    SELECT x.action, x.created_at FROM handoff_stagechange x
    WHERE x.lead_id = h.lead_id AND x.created_at > h.created_at
    ORDER BY x.created_at, x.id LIMIT 1
) nx ON true
WHERE h.action = 'handoff' AND h.owner_id IS NOT NULL
"""

# Closed-loop outcomes: customers won, opportunities converted, SQLs lost after a loss, some
# recycled leads not converted, and historical results for leads that never saw a hand-off.
OUTCOMES_SQL = """
INSERT INTO leads_outcome (lead_id, result, occurred_at, amount, source, external_id, applied_action,
                           received_at)
SELECT l.id,
       CASE WHEN l.stage = 'customer' THEN 'won'
            WHEN l.stage = 'opportunity' THEN 'converted'
            WHEN l.stage = 'disqualified' THEN 'lost'
            WHEN l.stage = 'recycled' THEN 'not_converted'
            ELSE (ARRAY['won', 'lost', 'converted', 'not_converted'])[1 + l.id % 4] END,
       LEAST(l.stage_changed_at + make_interval(hours => (1 + l.id % 200)::int), now()),
       CASE WHEN l.stage = 'customer' THEN 1000 + (l.id % 50) * 500 END,
       'crm', NULL, '', now()
FROM leads_lead l
WHERE (l.stage IN ('customer', 'opportunity') AND l.id % 10 < 8)
   OR (l.stage = 'disqualified' AND l.id % 10 < 3)
   OR (l.stage = 'recycled' AND l.id % 10 < 2)
   OR (l.stage = 'lead' AND l.id % 100 < 2)
"""


def load(args, users: dict) -> dict:
    import pages_data

    conn = pages.pg(args, args.db)
    pages.nice_load(conn)
    stats = pages_data.load(
        conn,
        leads=args.leads,
        companies=args.companies,
        interactions_per_lead=0,
        sample_size=200,
        users=users,
        model_id=users["model_id"],
        seed=args.seed,
        now=datetime.now(UTC),
        log=log,
    )
    with conn.cursor() as cur:
        for table, cols in (("handoff_assignment", ASSIGNMENT_COLS), ("leads_outcome", OUTCOME_COLS)):
            pages_data.check_not_null_coverage(cur, table, cols)
        t = time.perf_counter()
        cur.execute(ASSIGNMENTS_SQL)
        stats["rows"]["assignments"] = cur.rowcount
        cur.execute(OUTCOMES_SQL)
        stats["rows"]["outcomes"] = cur.rowcount
        stats["timings_s"]["assignments_outcomes"] = round(time.perf_counter() - t, 1)
    conn.commit()
    log(f"assignments {stats['rows']['assignments']:,}, outcomes {stats['rows']['outcomes']:,}")
    conn.autocommit = True
    t = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")  # as autovacuum would have by now: stats + visibility map
    stats["timings_s"]["vacuum_analyze"] = round(time.perf_counter() - t, 1)
    conn.close()
    os.setpriority(os.PRIO_PROCESS, os.getpid(), 0)
    stats.pop("sample_meta", None)
    return stats


def read_meta(args) -> dict | None:
    if not pages.db_exists(args):
        return None
    try:
        with pages.pg(args, args.db) as c, c.cursor() as cur:
            cur.execute("SELECT value FROM bench_analytics_meta WHERE key = 'load'")
            row = cur.fetchone()
            return row[0] if row else None
    except psycopg2.Error:
        return None


def write_meta(args, meta: dict) -> None:
    with pages.pg(args, args.db) as c, c.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_analytics_meta (key text PRIMARY KEY, value jsonb)")
        cur.execute(
            "INSERT INTO bench_analytics_meta VALUES ('load', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(meta, default=str)],
        )


def data_facts(args, today: date) -> dict:
    start = today - timedelta(days=89)
    with pages.pg(args, args.db) as c, c.cursor() as cur:
        out = {}
        for name, sql in {
            "leads": "SELECT count(*) FROM leads_lead",
            "stage_changes": "SELECT count(*) FROM handoff_stagechange",
            "assignments": "SELECT count(*) FROM handoff_assignment",
            "outcomes": "SELECT count(*) FROM leads_outcome",
            "score_changes": "SELECT count(*) FROM scoring_scorechange",
            "promotions_90d": "SELECT count(*) FROM handoff_stagechange WHERE to_stage = 'mql'"
            f" AND from_stage <> 'mql' AND created_at >= '{start}'",
            "promotions_3y": "SELECT count(*) FROM handoff_stagechange WHERE to_stage = 'mql'"
            " AND from_stage <> 'mql'",
            "first_lead_created": "SELECT min(created_at)::date::text FROM leads_lead",
        }.items():
            cur.execute(sql)
            v = cur.fetchone()[0]
            out[name] = int(v) if isinstance(v, int) else v
        return out


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------

MARKER = b'aria-label="Summary"'
DRILL_MARKER = b"rows"


def page_url(start: date, end: date, source: str = "") -> str:
    url = f"/analytics/?start={start.isoformat()}&end={end.isoformat()}"
    return url + (f"&source={source}" if source else "")


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def timed(sess, urls: list[str], n: int, marker: bytes, deadline: float) -> dict:
    lats, errors, _ = pages.run_sequential(sess, urls, n, marker, deadline)
    return {**pages.summarize(lats), "errors": errors}


COMPUTING_MARKER = b"Computing the figures for this range"


def cold_run(sess, urls: list[str], deadline: float, poll_s: float = 0.25) -> tuple[dict, dict, int]:
    """Each URL is a range nobody asked for: its first response (the "computing" page, or the
    figures if they were computed in the request), then polls until the figures are shown.
    Returns (first response, time to figures, requests made)."""
    first, ready, requests = [], [], 0
    for url in urls:
        if time.time() > deadline:
            break
        t0 = time.perf_counter()
        status, body, elapsed, _ = sess.request("GET", url)
        requests += 1
        first.append(elapsed)
        while status == 200 and COMPUTING_MARKER in body and time.time() < deadline:
            time.sleep(poll_s)
            status, body, _, _ = sess.request("GET", url)
            requests += 1
        if status == 200 and MARKER in body:
            ready.append(time.perf_counter() - t0)
    return pages.summarize(first), pages.summarize(ready), requests


def start_worker(env, logfile: Path) -> subprocess.Popen:
    """One Celery worker (concurrency 1, as a small deployment would run beside 2 web workers)."""
    name = f"bench-analytics-{os.getpid()}@%h"
    proc, _ = harness.start_celery_worker(env, logfile, concurrency=1, name=name)
    time.sleep(5)
    if proc.poll() is not None:
        raise RuntimeError(f"celery worker exited with {proc.returncode}; see {logfile}")
    return proc


def cache_keys(redis_client) -> int:
    return sum(1 for _ in redis_client.scan_iter(match="*analytics*", count=1000))


def scenario_entry(name, kind, result, target, urls, note="") -> dict:
    entry = {
        "name": name,
        "kind": kind,
        "urls": urls[:3] + (["..."] if len(urls) > 3 else []),
        "target": target,
        "sequential": result,
        "pass": None if target is None else result["p95"] <= target,
        "note": note,
        "others_running": others_running(),
        "loadavg_after": os.getloadavg(),
    }
    log(
        f"{name}: n={result['n']} p50 {result['p50']} p95 {result['p95']} max {result['max']} ms"
        + (f"; {result['errors']} errors" if result.get("errors") else "")
    )
    return entry


def measure(args, env, sess, today: date, users: dict, redis_client) -> list[dict]:
    out = []
    deadline = lambda: time.time() + args.scenario_timeout  # noqa: E731
    # 1. What beat does every few minutes: the default figures, precomputed.
    t = time.perf_counter()
    pages.manage(
        env,
        "shell",
        "-c",
        "from analytics.tasks import refresh_default_figures_task; refresh_default_figures_task()",
    )
    beat_s = round(time.perf_counter() - t, 1)
    log(f"beat refresh of the default figures: {beat_s}s (incl. Django start-up)")
    default = ["/analytics/"]
    pages.run_sequential(sess, default, args.warmup, MARKER, deadline())
    out.append(
        scenario_entry(
            "default page (90 days), warm",
            "warm",
            timed(sess, default, args.requests, MARKER, deadline()),
            TARGET_MS,
            default,
            f"figures precomputed by the beat task ({beat_s} s per refresh, incl. process start)",
        )
    )
    # 2. Cold: each a 90-day range no one asked for (ending 1..n days ago). The first response
    #    is the "computing" page; the figures come from the worker's live SQL.
    cold90 = [page_url(today - timedelta(days=89 + k), today - timedelta(days=k)) for k in range(1, 60)]
    cold90 = cold90[: args.cold]
    first, ready, n = cold_run(sess, cold90, deadline())
    out.append(
        scenario_entry(
            "custom 90-day range, cold: first response",
            "cold",
            first,
            TARGET_MS,
            cold90,
            "the 'computing' page; a Celery worker computes the figures",
        )
    )
    out.append(
        scenario_entry(
            "custom 90-day range, cold: until the figures show",
            "cold-ready",
            ready,
            None,
            cold90,
            f"live SQL on the worker, polled every 0.25 s ({n} requests); browsers look every 2 s",
        )
    )
    # 3. The same ranges viewed again.
    out.append(
        scenario_entry(
            "custom 90-day ranges, warm",
            "warm",
            timed(sess, cold90, args.requests, MARKER, deadline()),
            TARGET_MS,
            cold90,
            "second and later views of the ranges above",
        )
    )
    # 4. Cold and warm three-year ranges (the longest the form allows).
    cold3y = [
        page_url(years_before(today - timedelta(days=k), 3), today - timedelta(days=k)) for k in range(3)
    ]
    cold3y = cold3y[: args.cold_long]
    first, ready, n = cold_run(sess, cold3y, deadline())
    out.append(scenario_entry("custom 3-year range, cold: first response", "cold", first, TARGET_MS, cold3y))
    out.append(
        scenario_entry(
            "custom 3-year range, cold: until the figures show",
            "cold-ready",
            ready,
            None,
            cold3y,
            f"live SQL on the worker ({n} requests)",
        )
    )
    out.append(
        scenario_entry(
            "custom 3-year range, warm",
            "warm",
            timed(sess, cold3y, args.requests, MARKER, deadline()),
            TARGET_MS,
            cold3y,
            "",
        )
    )
    # 5. Drill-downs (live), default range.
    start = today - timedelta(days=89)
    base = f"&start={start.isoformat()}&end={today.isoformat()}"
    sdr = users["other_sdrs"][0]
    drills = [
        f"/analytics/leads/?figure=funnel&key=sql{base}",
        f"/analytics/leads/?figure=source&key=paid_search&converted=1{base}",
        f"/analytics/leads/?figure=stage_time&key=mql-sal{base}",
        f"/analytics/leads/?figure=sla&key={sdr}%3Alate{base}",
        f"/analytics/leads/?figure=rejections&key=not_a_fit{base}",
        f"/analytics/leads/?figure=calibration&key=5&converted=1{base}",
    ]
    pages.run_sequential(sess, drills, len(drills), DRILL_MARKER, deadline())
    per = []
    for u in drills:
        r = timed(sess, [u], max(10, args.requests // len(drills)), DRILL_MARKER, deadline())
        per.append({"url": u, **r})
        log(f"  drill {u.split('&start')[0]}: p50 {r['p50']} p95 {r['p95']} ms")
    out.append(
        scenario_entry(
            "drill-downs (6 figures), live",
            "drill",
            timed(sess, drills, args.requests, DRILL_MARKER, deadline()),
            TARGET_MS,
            drills,
            "live SQL, 50 rows a page",
        )
    )
    out[-1]["per_url"] = per
    return out


def markdown(res: dict) -> str:
    lines = [
        "| scenario | n | p50 ms | p95 ms | max ms | target p95 | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in res.get("scenarios", []):
        q = s["sequential"]
        verdict = "—" if s["pass"] is None else ("PASS" if s["pass"] else "**FAIL**")
        target = "—" if s["target"] is None else f"≤ {s['target']:.0f}"
        lines.append(
            f"| {s['name']} | {q['n']} | {q['p50']} | {q['p95']} | {q['max']} | {target} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--companies", type=int, default=250_000)
    ap.add_argument("--requests", type=int, default=200, help="measured requests per warm scenario")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--cold", type=int, default=15, help="cold 90-day ranges (each its own request)")
    ap.add_argument("--cold-long", type=int, default=3, help="cold 3-year ranges")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    ap.add_argument("--scenario-timeout", type=float, default=240)
    harness.add_database_args(ap, db="leadqual_bench_analytics", seed=20261205)
    ap.add_argument("--load-only", action="store_true", help="load (or reuse) the database, then stop")
    ap.add_argument("--wait-others", type=float, default=1200)
    ap.add_argument("--skip-inproc", action="store_true")
    ap.add_argument("--results-dir", default=str(BENCH / "results"))
    args = ap.parse_args()

    import redis

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    env = pages.run_env(args)
    env["DJANGO_SECRET_KEY"] = "bench-analytics-" + secrets.token_urlsafe(40)
    password = secrets.token_urlsafe(18)
    res: dict = {
        "bench": "analytics",
        "started_at": datetime.now(UTC).isoformat(),
        "config": vars(args),
        "machine": {
            "cpus": os.cpu_count(),
            "mem_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "postgres": pages.pg_settings(args),
        },
    }
    r = redis.Redis(host=pages.HOST, port=args.redis_port, db=args.redis_db)
    lock_conn = pages.pg(args, "postgres")
    lock_conn.autocommit = True
    with lock_conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [f"leadqual-bench:{args.db}"])
        if not cur.fetchone()[0]:
            raise SystemExit(f"another run holds database {args.db}; wait for it")
    gunicorn = worker = None
    shape = {"version": DATA_VERSION, "leads": args.leads, "companies": args.companies, "seed": args.seed}
    out = results_dir / f"analytics-{stamp}.json"
    try:
        r.flushdb()
        meta = read_meta(args) if args.reuse else None
        if meta and meta.get("shape") == shape:
            log(f"reusing database {args.db} (loaded {meta.get('loaded_at')}); migrate to the current code")
            pages.manage(env, "migrate", "--noinput")
            users = json.loads(pages.inproc(env, "setup-users", password))
            res["load"] = {"reused": True, **meta}
        else:
            t0 = time.perf_counter()
            res["load_others_running"] = others_running()
            log(f"database {args.db}: create and migrate")
            pages.create_db(args)
            pages.manage(env, "migrate", "--noinput")
            users = json.loads(pages.inproc(env, "setup-users", password))
            stats = load(args, users)
            stats.pop("sample", None)
            meta = {
                "shape": shape,
                "loaded_at": datetime.now(UTC).isoformat(),
                "load_s": round(time.perf_counter() - t0, 1),
                **stats,
            }
            write_meta(args, meta)
            log(f"loaded in {meta['load_s']}s")
            res["load"] = {"reused": False, **meta}
        today = datetime.now(UTC).date()
        res["data"] = data_facts(args, today)
        log(f"data: {json.dumps(res['data'])}")
        if args.load_only:
            return 0

        worker = start_worker(env, results_dir / f"analytics-celery-{stamp}.log")
        port = pages.free_port()
        gunicorn = pages.start_gunicorn(args, env, port, results_dir / f"analytics-gunicorn-{stamp}.log")
        sess = pages.Session(port)
        sess.login(users["marketer"], password)
        res["quiet"] = wait_quiet(args.wait_others)
        res["scenarios"] = measure(args, env, sess, today, users, r)
        res["cache_keys"] = cache_keys(r)
        pages.stop_process(gunicorn)
        pages.stop_process(worker)
        gunicorn = worker = None

        if not args.skip_inproc:
            start = today - timedelta(days=89)
            base = f"&start={start.isoformat()}&end={today.isoformat()}"
            spec = {
                "runs": 10,
                "profile_runs": 5,
                "scenarios": [
                    {"name": "default page, warm", "user": users["marketer"], "urls": ["/analytics/"]},
                    {
                        "name": "drill-down funnel sql",
                        "user": users["marketer"],
                        "urls": [f"/analytics/leads/?figure=funnel&key=sql{base}"],
                    },
                ],
            }
            with tempfile.TemporaryDirectory() as tmp:
                sp, op = Path(tmp) / "spec.json", Path(tmp) / "out.json"
                sp.write_text(json.dumps(spec))
                log("in-process: query counts and EXPLAIN ANALYZE")
                pages.inproc(env, "measure", str(sp), str(op))
                found = json.loads(op.read_text())
                res["inproc"] = {
                    k: {kk: v.get(kk) for kk in ("queries", "inproc_ms", "sql", "explain")}
                    for k, v in found.items()
                }
    finally:
        pages.stop_process(gunicorn)
        pages.stop_process(worker)
        try:
            r.flushdb()
        except Exception:  # noqa: BLE001
            pass
        if not args.keep and not args.load_only:
            log(f"dropping database {args.db}")
            pages.drop_db(args)
        lock_conn.close()
        res["finished_at"] = datetime.now(UTC).isoformat()
        out.write_text(json.dumps(res, indent=1, default=str))
        log(f"JSON: {out}")

    print(markdown(res))
    print()
    print(f"data: {json.dumps(res['data'])}")
    for name, v in (res.get("inproc") or {}).items():
        print(f"in-process {name}: {v.get('queries')} queries, {v.get('inproc_ms')}")
    if res["quiet"]["still_running"] or any(s["others_running"] for s in res["scenarios"]):
        print("NOTE: other benchmarks ran during part of the timed phase; see others_running in the JSON.")
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
