"""In-process half of bench/pages.py, run as a subprocess with the bench's environment.

setup-users PASSWORD   create (or reset) the bench users, team and SDR profiles; print JSON ids
measure SPEC.json OUT.json
                       for each page: the SQL it runs (CaptureQueriesContext on the Django test
                       client, same database), in-process time split into SQL and Python,
                       EXPLAIN (ANALYZE, BUFFERS) of every SELECT it runs, and a cProfile.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

User = get_user_model()

OTHER_SDRS = [f"bench_sdr{i:02d}" for i in range(1, 9)]


def setup_users(password: str) -> dict:
    from handoff.models import SalesTeam, SdrProfile
    from scoring.models import ScoringModel

    marketing, sales = Group.objects.get(name="marketing"), Group.objects.get(name="sales")
    team, _ = SalesTeam.objects.get_or_create(
        name="Bench EMEA", defaults={"timezone": "Europe/Berlin", "workdays": [0, 1, 2, 3, 4]}
    )

    def user(username, first, last, group):
        u, _ = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last}
        )
        u.email = f"{username}@bench.example"
        u.set_password(password)
        u.save()
        u.groups.set([group])
        return u

    marketer = user("bench_marketer", "Mara", "Keting", marketing)
    sdr = user("bench_sdr", "Sam", "Dee", sales)
    others = [user(name, "Sid", f"R{i}", sales) for i, name in enumerate(OTHER_SDRS, 1)]
    for u in [sdr, *others]:
        SdrProfile.objects.get_or_create(user=u, defaults={"team": team, "capacity": 50})
    model = ScoringModel.objects.get(status="active")
    return {
        "marketer": marketer.username,
        "marketer_id": marketer.pk,
        "sdr": sdr.username,
        "sdr_id": sdr.pk,
        "other_sdrs": [u.username for u in others],
        "other_sdr_ids": [u.pk for u in others],
        "model_id": model.pk,
    }


class _SqlTimer:
    def __init__(self):
        self.times: list[float] = []

    def reset(self) -> None:
        self.times = []

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.times.append(time.perf_counter() - t0)


def _explain(sql: str) -> dict:
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + sql)
        lines = [r[0] for r in cur.fetchall()]
    exec_ms = next((float(x.split(":")[1].split()[0]) for x in lines if x.startswith("Execution Time")), None)
    plan_ms = next((float(x.split(":")[1].split()[0]) for x in lines if x.startswith("Planning Time")), None)
    return {"execution_ms": exec_ms, "planning_ms": plan_ms, "plan": lines}


def _profile(client: Client, urls: list[str], runs: int) -> dict:
    prof = cProfile.Profile()
    prof.enable()
    for i in range(runs):
        client.get(urls[i % len(urls)])
    prof.disable()
    out = {}
    for key in ("cumulative", "tottime"):
        s = io.StringIO()
        st = pstats.Stats(prof, stream=s)
        st.sort_stats(key).print_stats(30)
        text = s.getvalue()
        # keep the table only, with paths shortened
        body = text[text.find("   ncalls") :] if "   ncalls" in text else text
        out[key] = body.replace(str(ROOT) + "/", "").replace(str(ROOT / ".venv") + "/", "")
    return out


def measure(spec: dict) -> dict:
    results = {}
    clients: dict[str, Client] = {}
    for sc in spec["scenarios"]:
        try:
            results[sc["name"]] = _measure_one(sc, spec, clients)
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
            print(f"[inproc] {sc['name']}: FAILED {exc!r}", file=sys.stderr, flush=True)
            results[sc["name"]] = {"error": repr(exc)}
    return results


def _measure_one(sc: dict, spec: dict, clients: dict) -> dict:
    username = sc["user"]
    if username not in clients:
        c = Client()
        c.force_login(User.objects.get(username=username))
        clients[username] = c
    client = clients[username]
    urls = sc["urls"]
    for u in urls[:2]:
        r = client.get(u)  # warm
        if r.status_code != 200:
            raise RuntimeError(f"{sc['name']}: GET {u} -> {r.status_code}")
    # One captured request: the queries this page runs.
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(urls[0])
    queries = [{"sql": q["sql"], "ms": round(float(q["time"]) * 1000, 2)} for q in ctx.captured_queries]
    # In-process timing: wall and SQL per request (SQL timed by an execute wrapper, which has
    # microsecond resolution where connection.queries rounds to milliseconds).
    timer = _SqlTimer()
    walls, sqls, counts = [], [], []
    per_query: list[list[float]] = []
    with connection.execute_wrapper(timer):
        for i in range(spec.get("runs", 30)):
            u = urls[i % len(urls)]
            timer.reset()
            t0 = time.perf_counter()
            client.get(u)
            walls.append((time.perf_counter() - t0) * 1000)
            sqls.append(sum(timer.times) * 1000)
            counts.append(len(timer.times))
            if u == urls[0]:
                per_query.append([x * 1000 for x in timer.times])
    if per_query and all(len(p) == len(queries) for p in per_query):
        for k, q in enumerate(queries):
            q["ms"] = round(statistics.median(p[k] for p in per_query), 3)
    # EXPLAIN ANALYZE every SELECT of the captured request (not the session/auth bookkeeping
    # UPDATEs, of which there are none on a GET).
    explains = []
    for q in queries:
        if q["sql"].lstrip().upper().startswith("SELECT"):
            explains.append({"sql": q["sql"], "ms_in_request": q["ms"], **_explain(q["sql"])})
    prof = _profile(client, urls, spec.get("profile_runs", 20))
    result = {
        "url": urls[0],
        "queries": len(queries),
        "queries_min_max": [min(counts), max(counts)],
        "sql": queries,
        "inproc_ms": {
            "wall_median": round(statistics.median(walls), 1),
            "sql_median": round(statistics.median(sqls), 1),
            "python_median": round(statistics.median(w - s for w, s in zip(walls, sqls, strict=True)), 1),
            "wall_p95": round(sorted(walls)[int(0.95 * (len(walls) - 1))], 1),
            "runs": len(walls),
        },
        "explain": explains,
        "cprofile": prof,
    }
    ms = result["inproc_ms"]
    print(
        f"[inproc] {sc['name']}: {len(queries)} queries,"
        f" wall {ms['wall_median']} ms (SQL {ms['sql_median']} ms)",
        file=sys.stderr,
        flush=True,
    )
    return result


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "setup-users":
        print(json.dumps(setup_users(sys.argv[2])))
    elif cmd == "measure":
        spec = json.loads(Path(sys.argv[2]).read_text())
        Path(sys.argv[3]).write_text(json.dumps(measure(spec)))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
