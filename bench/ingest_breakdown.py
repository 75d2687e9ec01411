#!/usr/bin/env python
"""In-process timing of each stage of one 1,000-item batch, without HTTP or gunicorn.

Complements the py-spy profile of bench/ingest.py --profile with exact per-stage times. Runs
against the database bench/ingest.py left behind (default leadqual_bench; run that first), in
this process, with the app's own functions (nothing is patched):

  .venv/bin/python bench/ingest_breakdown.py [--db leadqual_bench] [--repeat 5]

Stages of POST /api/v1/leads/batch/ and POST /api/v1/interactions/ as the views run them:
JSON parsing, the outer batch serializer, per-item validation (split into building each item's
serializer fields and running the validators), the service call (SQL + COMMIT; the rescoring
task is enqueued on Redis after commit), and building + rendering the response.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import ingest_data as datagen  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", default="leadqual_bench")
    ap.add_argument("--redis-db", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=5, help="batches per kind (median is shown)")
    ap.add_argument("--batch-size", type=int, default=1000)
    args = ap.parse_args()

    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.db}",
        REDIS_URL=f"redis://127.0.0.1:6379/{args.redis_db}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{args.redis_db}",
        DJANGO_SECRET_KEY="bench-" + secrets.token_urlsafe(30),
        DJANGO_DEBUG="0",
        LEADQUAL_API_RATE="100000000/min",
        DJANGO_SETTINGS_MODULE="leadqual.settings",
    )
    import django

    django.setup()
    import psutil
    import redis
    from django.db import connection
    from rest_framework.renderers import JSONRenderer

    from leads import services
    from leads.api import views
    from leads.api.serializers import (
        InteractionBatchInSerializer,
        InteractionInSerializer,
        LeadBatchInSerializer,
        LeadInSerializer,
    )

    r = redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db)
    owner = r.get("leadqual-bench:owner")
    if owner and psutil.pid_exists(int(owner)):
        raise SystemExit(f"a bench run (pid {int(owner)}) is using Redis db {args.redis_db}")
    if r.dbsize() and not owner:
        raise SystemExit(f"Redis db {args.redis_db} is not the bench's; use --redis-db")
    r.set("leadqual-bench:owner", str(os.getpid()))

    rng = random.Random(7)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT name, domain, industry, employee_count, annual_revenue, country"
            " FROM leads_company ORDER BY id LIMIT 5000"
        )
        companies = [
            dict(
                zip(
                    ("name", "domain", "industry", "employee_count", "annual_revenue", "country"),
                    row,
                    strict=True,
                )
            )
            for row in cur.fetchall()
        ]
        cur.execute("SELECT email FROM leads_lead ORDER BY id LIMIT 50000")
        emails = [e for (e,) in cur.fetchall()]
    if not companies or not emails:
        raise SystemExit(f"{args.db} has no data: run bench/ingest.py first")

    tag = secrets.token_hex(3)
    bs = args.batch_size
    timings: dict[str, dict[str, list[float]]] = {"leads": {}, "interactions": {}}

    def t(kind, stage, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        timings[kind].setdefault(stage, []).append((wall, cpu))
        return out

    for rep in range(args.repeat):
        body = json.dumps(
            {
                "leads": [
                    datagen.lead_item(rng, f"b{tag}{rep}-{i}", companies[rng.randrange(len(companies))])
                    for i in range(bs)
                ]
            }
        ).encode()
        data = t("leads", "1 parse JSON body", lambda b=body: json.loads(b))
        batch = LeadBatchInSerializer(data=data)
        t(
            "leads",
            "2 outer batch serializer (ListField of DictField)",
            lambda b=batch: b.is_valid(raise_exception=True),
        )
        raw = batch.validated_data["leads"]
        valid, errors = t(
            "leads",
            "3 views._validate_items (per-item validation, as the view runs it)",
            lambda raw=raw: views._validate_items(LeadInSerializer, raw),
        )
        t(
            "leads",
            "3a of which: building LeadInSerializer(data=…) and its .fields (deepcopy)",
            lambda raw=raw: [LeadInSerializer(data=x).fields for x in raw],
        )
        items = [d for _, d in valid]
        done = t(
            "leads",
            "4 services.leads_upsert (SQL + COMMIT + enqueue)",
            lambda items=items: services.leads_upsert(items=items),
        )
        outcomes = {
            i: {"status": "created" if o.created else "updated", "id": o.lead_id, "errors": None}
            for (i, _), o in zip(valid, done, strict=True)
        }
        resp = t(
            "leads",
            "5a build response (_batch_response)",
            lambda o=outcomes, raw=raw, e=errors: views._batch_response(len(raw), e, o),
        )
        t("leads", "5b render JSON (JSONRenderer)", lambda d=resp.data: JSONRenderer().render(d))

        now = datetime.now(UTC)
        body = json.dumps(
            {
                "interactions": [
                    datagen.interaction_item(
                        rng, emails[rng.randrange(len(emails))], f"bd-{tag}-{rep}-{i}", now
                    )
                    for i in range(bs)
                ]
            }
        ).encode()
        data = t("interactions", "1 parse JSON body", lambda b=body: json.loads(b))
        batch = InteractionBatchInSerializer(data=data)
        t(
            "interactions",
            "2 outer batch serializer (ListField of DictField)",
            lambda b=batch: b.is_valid(raise_exception=True),
        )
        raw = batch.validated_data["interactions"]
        valid, errors = t(
            "interactions",
            "3 views._validate_items (per-item validation, as the view runs it)",
            lambda raw=raw: views._validate_items(InteractionInSerializer, raw),
        )
        t(
            "interactions",
            "3a of which: building InteractionInSerializer(data=…) and its .fields (deepcopy)",
            lambda raw=raw: [InteractionInSerializer(data=x).fields for x in raw],
        )
        valid = views._check_lead_ids(valid, errors)
        items = [d for _, d in valid]
        done = t(
            "interactions",
            "4 services.interactions_record (SQL + COMMIT + enqueue)",
            lambda items=items: services.interactions_record(items=items, source="bd"),
        )
        outcomes = {
            i: {"status": o.status, "id": o.interaction_id, "lead_id": o.lead_id, "errors": None}
            for (i, _), o in zip(valid, done, strict=True)
        }
        resp = t(
            "interactions",
            "5a build response (_batch_response)",
            lambda o=outcomes, raw=raw, e=errors: views._batch_response(len(raw), e, o),
        )
        t("interactions", "5b render JSON (JSONRenderer)", lambda d=resp.data: JSONRenderer().render(d))

    r.flushdb()
    validate = "3 views._validate_items (per-item validation, as the view runs it)"
    for kind, stages in timings.items():
        # median per stage, wall and this process's CPU (CPU does not count PostgreSQL's work nor
        # time lost to other processes on a busy machine)
        med = {
            k: (sorted(w for w, _ in v)[len(v) // 2], sorted(c for _, c in v)[len(v) // 2])
            for k, v in stages.items()
        }
        top = [k for k in med if k[0] in "12345" and not k.startswith("3a")]
        total_w = sum(med[k][0] for k in top)
        total_c = sum(med[k][1] for k in top)
        print(f"\n#### {kind}: one batch of {bs} (median of {args.repeat}), in-process\n")
        print("| stage | wall ms per batch | % of wall | Python CPU ms | % of CPU | CPU µs per item |")
        print("|---|---|---|---|---|---|")

        def row(label, w, c, total_w=total_w, total_c=total_c):
            print(
                f"| {label} | {w:.1f} | {100 * w / total_w:.1f}% | {c:.1f} |"
                f" {100 * c / total_c:.1f}% | {1000 * c / bs:.0f} |"
            )

        for stage, (w, c) in med.items():
            row(stage, w, c)
            if stage.startswith("3a"):
                row(
                    "3b of which: running the validators (3 − 3a)", med[validate][0] - w, med[validate][1] - c
                )
        row("total (1 + 2 + 3 + 4 + 5)", total_w, total_c)
        print(
            f"\n→ one worker process (one core) can do at most {1000 * bs / total_w:,.0f} items/s;"
            f" Python CPU alone allows {1000 * bs / total_c:,.0f} items/s per core"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
