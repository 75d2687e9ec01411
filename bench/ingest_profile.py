"""Summarise py-spy raw (collapsed) stacks of gunicorn workers: where request time goes.

Two recordings per worker and phase (see Profiler in ingest.py):
  wall  py-spy --idle: every request thread, running or waiting (on PostgreSQL, Redis, the GIL)
  gil   py-spy --gil: only the thread holding the GIL, i.e. the worker's Python CPU time

Usage: .venv/bin/python bench/ingest_profile.py bench/results/profile-<stamp>/
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

# (label, predicate over the stack's frame list). First match wins, so order matters: the
# narrower, nested activities come before the ones that contain them.
RULES: list[tuple[str, object]] = []


def rule(label):
    def deco(fn):
        RULES.append((label, fn))
        return fn

    return deco


def has(frames, *needles):
    return any(n in f for f in frames for n in needles)


@rule("DB health check (CONN_HEALTH_CHECKS: SELECT 1)")
def _health(fr):
    return has(fr, "close_if_health_check_failed")


@rule("Celery enqueue after commit (Redis LPUSH)")
def _celery(fr):
    return has(fr, "enqueue_rescoring", "celery/", "kombu/")


@rule("throttle (DRF SimpleRateThrottle, Redis cache get+set)")
def _throttle(fr):
    return has(fr, "check_throttles")


@rule("auth (API key lookup: SELECT, SHA-256)")
def _auth(fr):
    return has(fr, "perform_authentication", "leads/api/auth.py")


@rule("BEGIN/COMMIT (transaction.atomic)")
def _commit(fr):
    return has(fr, "BaseDatabaseWrapper._commit", "set_autocommit")


@rule("request JSON parsing")
def _parse(fr):
    return has(fr, "Request._parse", "rest_framework/parsers.py")


@rule("response serializer (LeadDetailSerializer.data)")
def _outser(fr):
    return has(fr, "BaseSerializer.data", "Serializer.data", "to_representation")


@rule("validation: building serializer fields per item (deepcopy)")
def _construct(fr):
    return has(fr, "is_valid", "_validate_items") and has(
        fr,
        "Serializer.get_fields",
        "BaseSerializer.__init__",
        "Field.__deepcopy__",
        "BaseSerializer.__new__",
        "Field.__new__",
    )


@rule("validation: running field validators")
def _validate(fr):
    return has(fr, "is_valid", "_validate_items")


@rule("services: SQL (execute_values: mogrify/Json + PostgreSQL round trip)")
def _svc_sql(fr):
    return has(fr, "leads/services.py") and has(fr, "psycopg2/", "django/db/backends/")


@rule("services: Python (prepare, merge, enrichment)")
def _svc_py(fr):
    return has(fr, "leads/services.py")


@rule("_check_lead_ids (ORM)")
def _check(fr):
    return has(fr, "_check_lead_ids")


@rule("re-read lead after upsert (ORM SELECT … JOIN)")
def _reread(fr):
    return has(fr, "LeadListCreateView.post") and has(fr, "django/db/models/")


@rule("batch response building + JSON rendering")
def _render(fr):
    return has(fr, "_batch_response", "renderers.py", "rendered_content", "finalize_response")


@rule("gunicorn: HTTP parse / socket write")
def _gunicorn_io(fr):
    return not has(fr, "WSGIHandler.__call__") or has(fr, "gunicorn/http/wsgi.py")


@rule("Django/DRF other (middleware, dispatch, view)")
def _other(fr):
    return True


def in_request(frames) -> bool:
    return any("handle_request" in f for f in frames)


def is_sql(frames) -> bool:
    return has(frames, "psycopg2/", "django/db/backends/utils.py", "_commit", "is_usable", "set_autocommit")


def is_redis(frames) -> bool:
    return has(frames, "redis/")


def load(files):
    counts = collections.Counter()
    sql = redis_ = total = outside = 0
    for path in files:
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                continue
            stack, n = line.rsplit(" ", 1)
            n = int(n)
            frames = stack.split(";")
            if not in_request(frames):
                outside += n
                continue
            total += n
            for label, pred in RULES:
                if pred(frames):
                    counts[label] += n
                    break
            if is_sql(frames):
                sql += n
            if is_redis(frames):
                redis_ += n
    return counts, total, sql, redis_, outside


def summarize_files(files: list[Path]) -> str:
    by_mode: dict[str, list[Path]] = collections.defaultdict(list)
    for f in files:
        by_mode[f.stem.rsplit("-", 1)[-1]].append(f)
    data = {mode: load(fs) for mode, fs in by_mode.items()}
    modes = [m for m in ("wall", "gil") if m in data]
    head = {"wall": "% of request wall time", "gil": "% of worker Python CPU (GIL held)"}
    lines = ["| where | " + " | ".join(head[m] for m in modes) + " |", "|---|" + "---|" * len(modes)]
    labels = [label for label, _ in RULES]
    for label in labels:
        cells = []
        for m in modes:
            counts, total, *_ = data[m]
            cells.append(f"{100 * counts[label] / total:.1f}" if total else "–")
        if any(c not in ("0.0", "–") for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name, idx in (
        ("… of which inside SQL calls (psycopg2/Django cursor)", 2),
        ("… of which inside Redis calls", 3),
    ):
        cells = []
        for m in modes:
            _, total, *rest = data[m]
            cells.append(f"{100 * rest[idx - 2] / total:.1f}" if total else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for m in modes:
        _, total, _, _, outside = data[m]
        cells.append(f"{total} in request / {outside} outside")
    lines.append("| samples | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else None
    if root is None or not root.is_dir():
        raise SystemExit(__doc__)
    phases = collections.defaultdict(list)
    for f in sorted(root.glob("*.txt")):
        phases[f.stem.split("-", 1)[0]].append(f)
    for phase, files in phases.items():
        print(f"\n### {phase}\n")
        print(summarize_files(files))


if __name__ == "__main__":
    main(sys.argv)
