#!/usr/bin/env python
"""py-spy for bench/scoring.py: record the Celery pool processes during a full rescore and say
where the wall-clock time of a chunk task goes.

Recording: `py-spy record --idle --nonblocking --format raw` on each pool process, so a sample
is taken whether the process runs Python, runs C (psycopg2 typecasting) or waits on a socket
(PostgreSQL executing the statement, or the process waiting for a CPU on a busy machine).

Summary: every sample is put in one bucket by the frames on its stack (first rule wins), and
buckets are shown as a share of the samples spent inside rescore_chunk_run. Line numbers tell
"waiting on the SELECT" from "building rows" inside the same function; they are looked up in
the source at summary time, so the summary follows edits to the code.

  .venv/bin/python bench/scoring_profile.py bench/results/scoring-profile-<stamp>/
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYSPY = ROOT / ".venv" / "bin" / "py-spy"


class Recorder:
    def __init__(self, outdir: Path, rate: int = 100):
        self.outdir = Path(outdir)
        self.rate = rate
        self.procs: list[tuple[subprocess.Popen, Path, int]] = []
        self.started = False
        self.seconds = 0.0

    def start(self, pids: list[int], seconds: float) -> None:
        self.started = True
        self.seconds = seconds
        self.outdir.mkdir(parents=True, exist_ok=True)
        for pid in pids:
            out = self.outdir / f"pool-{pid}.txt"
            cmd = [
                str(PYSPY),
                "record",
                "--idle",
                "--nonblocking",
                "--format",
                "raw",
                "-r",
                str(self.rate),
                "-d",
                str(int(seconds)),
                "-p",
                str(pid),
                "-o",
                str(out),
            ]
            err = open(self.outdir / f"pool-{pid}.log", "w")  # noqa: SIM115
            self.procs.append((subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT), out, pid))
        print(
            f"[{time.strftime('%H:%M:%S')}] profile: py-spy on {pids} for {seconds:.0f} s -> {self.outdir}",
            file=sys.stderr,
            flush=True,
        )

    def finish(self) -> dict:
        if not self.started:
            return {"error": "the rescore ended before the profile started"}
        for proc, _, _ in self.procs:
            try:
                proc.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=10)
        files = [out for _, out, _ in self.procs if out.exists()]
        if not files:
            return {"error": "py-spy wrote nothing (see the .log files)", "dir": str(self.outdir)}
        summary = summarise(files)
        summary["dir"] = str(self.outdir)
        return summary

    def stop(self) -> None:
        for proc, _, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------


def _lines_of(path: Path, func: str, callee: str) -> set[int]:
    """Line numbers, in function `func` of the file, of the calls to `callee` (e.g.
    "cursor.fetchall"), all lines of a multi-line call. Read with ast: nothing is imported."""
    import ast

    try:
        text = path.read_text()
    except OSError:
        return set()
    found: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name == func:
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and ast.get_source_segment(text, call.func) == callee:
                    found.update(range(call.lineno, call.end_lineno + 1))
    return found


def _targets() -> dict[str, set[int]]:
    import psycopg2.extras

    facts = ROOT / "scoring" / "facts.py"
    services = ROOT / "scoring" / "services.py"
    return {
        "ledger_bulk": _lines_of(services, "_score_chunk", "ScoreChange.objects.bulk_create"),
        "stage_bulk": _lines_of(services, "_score_chunk", "StageChange.objects.bulk_create"),
        "leads_fetch": _lines_of(facts, "load_leads", "cursor.fetchall"),
        "leads_execute": _lines_of(facts, "load_leads", "cursor.execute"),
        "ev_fetch": _lines_of(facts, "load_interactions", "cursor.fetchall"),
        "ev_execute": _lines_of(facts, "load_interactions", "cursor.execute"),
        "ev_copy": _lines_of(facts, "_lean_facts", "cursor.cursor.copy_expert"),
        "ev_execute_values_sql": _lines_of(Path(psycopg2.extras.__file__), "execute_values", "cur.execute"),
    }


def _frame(f: str) -> tuple[str, str, int]:
    """'func (path/file.py:123)' -> (func, path, line)."""
    name, _, rest = f.rpartition(" (")
    path, _, line = rest.rstrip(")").rpartition(":")
    name = name.rpartition(".")[2]  # qualnames (Class.method) -> method
    try:
        return name, path, int(line)
    except ValueError:
        return f, "", 0


def classify(stack: list[tuple[str, str, int]], t: dict[str, set[int]]) -> str:
    names = [s[0] for s in stack]
    paths = [s[1] for s in stack]

    def within(fn: str) -> int | None:
        for i, n in enumerate(names):
            if n == fn:
                return i
        return None

    leaf_name, leaf_path, leaf_line = stack[-1]
    sc = within("_score_chunk")
    if within("rescore_chunk_run") is None:
        if within("rescore_job_plan") is not None or within("rescore_job_task") is not None:
            return "job planning task (window query, bulk_create chunks, enqueue)"
        if any("celery/" in p or "billiard/" in p or "kombu/" in p for p in paths):
            return "idle: pool process waiting for a task (celery/billiard)"
        if sc is None:
            # py-spy --nonblocking sometimes reads a torn stack (its root frames missing): classify
            # it by the frames it has, as if inside _score_chunk.
            sc = -1
    elif sc is None:
        return "chunk bookkeeping outside _score_chunk (ORM: chunk, ids, progress)"
    inner = stack[sc + 1 :]
    inner_names = [s[0] for s in inner]

    def has_json_decode():
        return (
            any(
                p.endswith("json/decoder.py") or p.endswith("json/__init__.py") and n == "loads"
                for n, p, _ in inner
            )
            or "as_json" in inner_names
        )

    if "load_leads" in inner_names:
        i = inner_names.index("load_leads")
        line = inner[i][2]
        if has_json_decode():
            return "load leads: JSON decode (attributes, previous score_explanation)"
        if (line in t["leads_fetch"] or not line) and i == len(inner) - 1:
            return "load leads: fetchall (transfer + C typecasting)"
        if line in t["leads_execute"] or any("django/db" in p for _, p, _ in inner[i + 1 :]):
            return "load leads: SELECT ... FOR NO KEY UPDATE SKIP LOCKED (wait on PostgreSQL)"
        return "load leads: building LeadFacts/LeadRow"
    if "load_interactions" in inner_names:
        i = inner_names.index("load_interactions")
        line = inner[i][2]
        if has_json_decode() or "_copied_json" in inner_names:
            return "load interactions: JSON decode of properties"
        if "_lean_facts" in inner_names:
            j = inner_names.index("_lean_facts")
            if inner[j][2] in t["ev_copy"] and j == len(inner) - 1:
                return "load interactions: COPY ... TO STDOUT (wait on PostgreSQL)"
        if line in t["ev_fetch"] and i == len(inner) - 1:
            return "load interactions: fetchall (transfer + C typecasting)"
        if line in t["ev_execute"] or any("django/db" in p for _, p, _ in inner[i + 1 :]):
            return "load interactions: SELECT (wait on PostgreSQL)"
        return "load interactions: building InteractionFact"
    if "_write_results" in inner_names:
        return "results: COPY into the temporary table, then the UPDATE (wait on PostgreSQL)"
    if "execute_values" in inner_names:
        i = inner_names.index("execute_values")
        if any(p.endswith("json/encoder.py") or n == "dumps" for n, p, _ in inner[i + 1 :]):
            return "UPDATE leads: JSON encode of explanations (psycopg2 Json)"
        if inner[i][2] in t["ev_execute_values_sql"] and i == len(inner) - 1:
            return "UPDATE leads: SQL execution (wait on PostgreSQL)"
        return "UPDATE leads: mogrify / building the VALUES"
    if "bulk_create" in inner_names:
        # which model: the _score_chunk line tells ScoreChange from StageChange
        waiting = "django/db/backends" in leaf_path and leaf_name in ("execute", "_execute", "executemany")
        line = stack[sc][2]
        kind = (
            "ledger ScoreChange"
            if line in t["ledger_bulk"]
            else "StageChange"
            if line in t["stage_bulk"]
            else "other"
        )
        return f"INSERT {kind} rows (bulk_create: {'SQL, wait on PostgreSQL' if waiting else 'ORM build'})"
    if any(p.endswith("scoring/engine.py") for p in paths):
        if "explanation" in inner_names or "_jsonable" in inner_names:
            return "engine: explanation() dict building"
        return "engine: score_lead (fit, engagement rules, MQL rule)"
    if "_ledger_rows" in inner_names or "_contributions" in inner_names:
        return "ledger diff (_ledger_rows, ScoreChange objects)"
    if "_promotion" in inner_names:
        return "promotion (lifecycle.plan, StageChange objects)"
    if any(n in ("commit", "_commit", "__exit__") for n in inner_names[:3]) or any(
        n in ("commit", "_commit") for n in inner_names
    ):
        return "COMMIT (wait on PostgreSQL: WAL flush)"
    if any(p.endswith("psycopg2/_json.py") or p.endswith("json/encoder.py") for p in paths):
        return "UPDATE leads: JSON encode of explanations (psycopg2 Json)"
    if any(p.endswith("json/decoder.py") for p in paths):
        return "JSON decode (torn stack: leads or interactions)"
    if any("django/db" in p for p in [s[1] for s in inner]):
        return "_score_chunk: other SQL (atomic, cursor, marked-ids query)"
    if sc == -1:
        return "other (torn stack, unclassified)"
    return "_score_chunk: Python glue (loop, tuples, Json wrapper)"


def read_raw(path: Path) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        try:
            counts[stack] += int(n)
        except ValueError:
            continue
    return counts


def summarise(files: list[Path]) -> dict:
    t = _targets()
    buckets: collections.Counter = collections.Counter()
    engine_funcs: collections.Counter = collections.Counter()
    total = 0
    for f in files:
        for stack, n in read_raw(Path(f)).items():
            frames = [_frame(x) for x in stack.split(";")]
            # py-spy raw lines start with "process_name (pid)" / thread frames: keep python frames
            frames = [fr for fr in frames if fr[1]]
            label = classify(frames, t)
            buckets[label] += n
            total += n
            if label.startswith("engine:"):
                leaf = next((fr for fr in reversed(frames) if fr[1].endswith("scoring/engine.py")), None)
                if leaf:
                    engine_funcs[leaf[0]] += n
    busy = sum(v for k, v in buckets.items() if not k.startswith("idle"))
    rows = sorted(buckets.items(), key=lambda kv: -kv[1])
    table = [
        "| where the time of the chunk tasks goes (py-spy wall clock, both pool processes) |"
        " samples | % of busy |",
        "|---|---|---|",
    ]
    for label, n in rows:
        share = f"{100 * n / busy:.1f}" if busy and not label.startswith("idle") else "-"
        table.append(f"| {label} | {n} | {share} |")
    groups = collections.Counter()
    for label, n in rows:
        if label.startswith("idle"):
            continue
        if "wait on PostgreSQL" in label or "SQL" in label or "fetchall" in label or "COMMIT" in label:
            groups["PostgreSQL (statements, transfer, typecasting)"] += n
        elif label.startswith("engine"):
            groups["engine (pure Python scoring + explanation)"] += n
        elif "JSON" in label:
            groups["JSON decode/encode"] += n
        else:
            groups["other Python (row building, ledger, ORM, glue)"] += n
    table.append("")
    table.append("| group | % of busy |")
    table.append("|---|---|")
    for g, n in groups.most_common():
        table.append(f"| {g} | {100 * n / busy:.1f} |" if busy else f"| {g} | - |")
    if engine_funcs:
        eng = sum(engine_funcs.values())
        table.append("")
        table.append(
            "Engine self time by function (share of engine samples): "
            + ", ".join(f"{k} {100 * v / eng:.0f}%" for k, v in engine_funcs.most_common(8))
        )
    return {
        "samples": total,
        "busy_samples": busy,
        "buckets": dict(rows),
        "groups_pct": {g: round(100 * n / busy, 1) for g, n in groups.items()} if busy else {},
        "engine_self": dict(engine_funcs.most_common(12)),
        "table": "\n".join(table),
    }


if __name__ == "__main__":
    d = Path(sys.argv[1])
    files = sorted(d.glob("pool-*.txt")) if d.is_dir() else [d]
    print(summarise(files)["table"])
