#!/usr/bin/env python
"""Predictive scoring benchmark: train on N labelled synthetic leads, then score and explain them.

Run from the repository root:

  .venv/bin/python bench/predictive.py                 # 100,000 leads (the issue's target: <= 60 s)
  .venv/bin/python bench/predictive.py --leads 20000 --seed 3
  .venv/bin/python bench/predictive.py --db                        # the whole database path too

With --db it also builds a database `leadqual_bench_predictive` on 127.0.0.1 (dropped and
created, migrated, then COPY: one company per lead, the leads, their interactions before and
after the outcome, one outcome each; ANALYZE) and times the production path end to end:
predictive_model_train() = label query + set-based feature queries (2 per 5,000 leads) + the
same training + storing the version + scoring and explaining every lead in chunks of 5,000
(UPDATE leads_lead + upsert of LeadPrediction). The database is dropped afterwards unless --keep.

The leads are generated directly as the plain records scoring/predictive.py trains on (what
predictive_services.training_data() builds from the database with two set-based queries per
5,000 leads), with a realistic width: 8 standard categorical fields, 2 numbers, 17 interaction
types with counts, the activity aggregates, and 8 custom attributes of every kind (strings,
numbers, booleans, lists, an identifier that must be skipped). Conversion depends on industry,
seniority, webinars, demo requests, pricing-page views, a personal e-mail address and one
custom attribute, with noise.

Phases timed: generate, train (featurise + stratified split + 3-fold sigmoid calibration of an
L2 logistic regression + held-out metrics), pickle (the artifact stored in PredictiveModel),
predict_and_explain (probabilities and top factors in words for every lead). A markdown summary
goes to stdout and JSON to bench/results/predictive-<stamp>.json. Nothing is contacted.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import joblib  # noqa: E402

from scoring import engine, predictive  # noqa: E402

INDUSTRIES = [
    "software",
    "fintech",
    "retail",
    "healthcare",
    "logistics",
    "manufacturing",
    "education",
    "media",
]
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "NL", "AU", "IN", "BR", "ES"]
SENIORITIES = ["c_level", "vp", "director", "manager", "individual", "unknown"]
DEPARTMENTS = ["engineering", "it", "marketing", "sales", "finance", "operations", "hr", ""]
SOURCES = [
    "organic_search",
    "paid_search",
    "webinar",
    "referral",
    "paid_social",
    "event",
    "partner",
    "direct",
]
MEDIUMS = ["", "cpc", "email", "social", "display", "affiliate"]
TYPES = list(engine.INTERACTION_TYPES)
RATES = {
    t: r
    for t, r in zip(
        TYPES,
        [6, 0.6, 0.8, 0.5, 0.4, 5, 1.2, 0.5, 0.2, 0.08, 0.05, 0.1, 0.7, 0.05, 0.4, 0.05, 0.03],
        strict=True,
    )
}


def _poisson(rnd: random.Random, lam: float) -> int:
    # Knuth; lam is small here
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def synthetic(n: int, seed: int) -> tuple[list[dict], list[bool]]:
    rnd = random.Random(seed)
    records, labels = [], []
    for i in range(n):
        engagement = rnd.lognormvariate(0, 0.6)
        counts = {t: _poisson(rnd, RATES[t] * engagement) for t in TYPES}
        counts = {t: c for t, c in counts.items() if c}
        visits = counts.get("page_view", 0) + counts.get("pricing_page_view", 0)
        industry = rnd.choice(INDUSTRIES)
        seniority = rnd.choice(SENIORITIES)
        personal = rnd.random() < 0.15
        uses_erp = rnd.random() < 0.4
        logit = (
            -2.2
            + 0.9 * (industry in ("fintech", "software"))
            + 0.6 * (seniority in ("c_level", "vp"))
            + 0.5 * min(counts.get("webinar_attendance", 0), 3)
            + 1.5 * ("demo_request" in counts)
            + 0.25 * min(counts.get("pricing_page_view", 0), 4)
            - 1.0 * personal
            + 0.5 * uses_erp
            - 1.2 * ("unsubscribe" in counts)
            + rnd.gauss(0, 0.5)
        )
        labels.append(rnd.random() < 1 / (1 + math.exp(-logit)))
        employees = int(rnd.lognormvariate(5, 1.5)) if rnd.random() > 0.1 else None
        seconds = [rnd.randint(5, 600) for _ in range(min(visits, 20))]
        records.append(
            {
                "email": f"lead{i}@{'gmail.com' if personal else f'company{i % 40000}.example'}",
                "industry": industry,
                "country": rnd.choice(COUNTRIES),
                "seniority": seniority,
                "department": rnd.choice(DEPARTMENTS),
                "source": rnd.choice(SOURCES),
                "utm_medium": rnd.choice(MEDIUMS),
                "employee_count": employees,
                "annual_revenue": employees * rnd.randint(50_000, 300_000) if employees else None,
                "attributes": {
                    "plan_interest": rnd.choice(["starter", "pro", "enterprise", ""]),
                    "uses_erp": uses_erp,
                    "seats": rnd.randint(1, 500),
                    "tools": rnd.sample(
                        ["sap", "oracle", "netsuite", "excel", "xero", "quickbooks"], rnd.randint(0, 3)
                    ),
                    "region": rnd.choice(["amer", "emea", "apac"]),
                    "newsletter": rnd.random() < 0.5,
                    "budget_k": rnd.choice([None, 10, 50, 100, 500]),
                    "crm_id": f"0065{i:08d}",
                },
                "activity": {
                    "counts": counts,
                    "distinct_conversion_types": len(predictive.CONVERSION_TYPES & set(counts)),
                    "visit_days": min(visits, rnd.randint(1, 30)) if visits else 0,
                    "days_since_last_activity": rnd.expovariate(1 / 20) if counts else None,
                    "page_views": visits,
                    "pricing_page_views": counts.get("pricing_page_view", 0),
                    "time_on_site_seconds": float(sum(seconds)) if seconds else None,
                    "avg_visit_seconds": sum(seconds) / len(seconds) if seconds else None,
                },
            }
        )
    return records, labels


def _copy(cursor, model, rows: list[dict]) -> None:
    """COPY rows into a model's table; every concrete column not given takes the field default,
    so the loader keeps working when other apps add columns with defaults."""
    from django.utils import timezone

    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or "id" in rows[0]]
    buffer = io.StringIO()

    def text(field, value):
        if value is None:
            return "\\N"
        if field.get_internal_type() == "JSONField":
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "t" if value else "f"
        elif isinstance(value, datetime):
            value = value.isoformat()
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    for row in rows:
        values = []
        for f in fields:
            if f.attname in row:
                value = row[f.attname]
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                value = now
            else:
                value = f.get_default()
            values.append(text(f, value))
        buffer.write("\t".join(values) + "\n")
    buffer.seek(0)
    cursor.copy_expert(
        f"COPY {model._meta.db_table} ({', '.join(f.column for f in fields)}) FROM STDIN", buffer
    )


def db_bench(args) -> dict:
    import psycopg2

    dsn = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"

    def admin(*statements: str) -> None:
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        conn.close()

    admin(f"DROP DATABASE IF EXISTS {args.db_name}", f"CREATE DATABASE {args.db_name}")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db_name}"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from leads.models import Company, Interaction, Lead, Outcome
    from scoring import predictive_services
    from scoring.models import PredictiveModel

    timings: dict[str, float] = {}
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    timings["migrate"] = time.perf_counter() - start

    start = time.perf_counter()
    records, labels = synthetic(args.leads, args.seed)
    rnd = random.Random(args.seed)
    now = timezone.now()
    companies, leads, interactions, outcomes = [], [], [], []
    for i, (record, label) in enumerate(zip(records, labels, strict=True)):
        decided = now - timedelta(days=rnd.randint(1, 120), seconds=rnd.randint(0, 86_399))
        companies.append(
            {
                "id": i + 1,
                "name": f"Company {i}",
                "domain": f"c{i}.example",
                "industry": record["industry"],
                "employee_count": record["employee_count"],
                "annual_revenue": record["annual_revenue"],
                "country": record["country"],
            }
        )
        leads.append(
            {
                "id": i + 1,
                "email": record["email"],
                "company_id": i + 1,
                **{k: record[k] for k in ("seniority", "department", "country", "source", "utm_medium")},
                "attributes": record["attributes"],
                "needs_rescore": False,
            }
        )
        for type_, count in record["activity"]["counts"].items():
            # The DB path aggregates what happened before the outcome; add noise after it too.
            for _ in range(max(1, round(count * args.events_factor))):
                at = decided - timedelta(days=rnd.expovariate(1 / 20), seconds=rnd.randint(1, 3600))
                properties = {"duration_seconds": rnd.randint(5, 600)} if type_ == "page_view" else {}
                interactions.append(
                    {"lead_id": i + 1, "type": type_, "occurred_at": at, "properties": properties}
                )
        if rnd.random() < 0.3:
            interactions.append(
                {
                    "lead_id": i + 1,
                    "type": "email_open",
                    "occurred_at": decided + timedelta(hours=5),
                    "properties": {},
                }
            )
        outcomes.append({"lead_id": i + 1, "result": "won" if label else "lost", "occurred_at": decided})
    timings["generate_rows"] = time.perf_counter() - start

    start = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        _copy(raw, Company, companies)
        _copy(raw, Lead, leads)
        for part in range(0, len(interactions), 200_000):
            _copy(raw, Interaction, interactions[part : part + 200_000])
        _copy(raw, Outcome, outcomes)
        for table in ("leads_company", "leads_lead"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        cursor.execute("ANALYZE")
    timings["copy"] = time.perf_counter() - start

    start = time.perf_counter()
    data = predictive_services.training_data()
    timings["load_training_data_sql"] = time.perf_counter() - start

    row = predictive_services.predictive_training_request(trigger="bench")
    start = time.perf_counter()
    row = predictive_services.predictive_model_train(model_id=row.pk)
    timings["predictive_model_train_end_to_end"] = time.perf_counter() - start
    scored = PredictiveModel.objects.get(pk=row.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead WHERE conversion_probability IS NOT NULL")
        with_probability = cursor.fetchone()[0]
    start = time.perf_counter()
    predictive_services.predictive_score_all(model_id=row.pk)
    timings["score_and_explain_all_leads_again"] = time.perf_counter() - start
    start = time.perf_counter()
    predictive_services.predict_for_leads(range(1, 101))
    timings["predict_for_100_leads"] = time.perf_counter() - start
    result = {
        "db": args.db_name,
        "leads": args.leads,
        "interactions": len(interactions),
        "labelled": len(data.labels),
        "status": scored.status,
        "message": scored.message,
        "auc": scored.metrics.get("auc"),
        "leads_scored": scored.leads_scored,
        "leads_with_probability": with_probability,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
    connection.close()
    if not args.keep:
        admin(f"DROP DATABASE IF EXISTS {args.db_name}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target-seconds", type=float, default=60.0)
    parser.add_argument("--db", action="store_true", help="also time the database path end to end")
    parser.add_argument("--db-name", default="leadqual_bench_predictive")
    parser.add_argument(
        "--events-factor", type=float, default=0.5, help="interaction rows per counted event (--db)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the --db database")
    args = parser.parse_args()

    timings: dict[str, float] = {}
    start = time.perf_counter()
    records, labels = synthetic(args.leads, args.seed)
    timings["generate"] = time.perf_counter() - start

    start = time.perf_counter()
    result = predictive.train(records, labels, seed=args.seed)
    timings["train"] = time.perf_counter() - start

    start = time.perf_counter()
    buffer = io.BytesIO()
    joblib.dump(result.model, buffer)
    timings["pickle"] = time.perf_counter() - start

    start = time.perf_counter()
    probabilities, factors = result.model.predict_and_explain(records)
    timings["predict_and_explain"] = time.perf_counter() - start

    metrics = result.metrics
    top = max(range(len(records)), key=lambda i: probabilities[i])
    summary = {
        "leads": args.leads,
        "positives": metrics["positives"],
        "negatives": metrics["negatives"],
        "features": metrics["features"],
        "auc": metrics["auc"],
        "lift_top_decile": metrics["lift_top_decile"],
        "brier": metrics["brier"],
        "artifact_bytes": len(buffer.getvalue()),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "target_seconds": args.target_seconds,
        "train_within_target": timings["train"] <= args.target_seconds,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sklearn": metrics["sklearn"],
        },
        "example": {"probability": round(float(probabilities[top]), 3), "factors": factors[top]},
    }
    print(f"## Predictive training on {args.leads:,} labelled leads\n")
    print("| phase | seconds |\n|---|---:|")
    for phase, seconds in timings.items():
        print(f"| {phase} | {seconds:.2f} |")
    print(
        f"\nTraining {timings['train']:.1f} s (target <= {args.target_seconds:.0f} s:"
        f" {'met' if summary['train_within_target'] else 'MISSED'}) on {os.cpu_count()} CPUs;"
        f" {metrics['features']} features, held-out AUC {metrics['auc']:.3f},"
        f" lift {metrics['lift_top_decile']:.2f}x, Brier {metrics['brier']:.3f};"
        f" artifact {summary['artifact_bytes'] / 1024:.0f} KiB."
    )
    print(f"Top lead ({probabilities[top]:.0%}): " + "; ".join(f["label"] for f in factors[top]["plus"]))
    if args.db:
        del records, labels, probabilities, factors
        summary["db"] = db = db_bench(args)
        print(f"\n## Database path: {db['leads']:,} leads, {db['interactions']:,} interactions\n")
        print("| phase | seconds |\n|---|---:|")
        for phase, seconds in db["seconds"].items():
            print(f"| {phase} | {seconds:.2f} |")
        print(
            f"\n{db['status']}: {db['message']} {db['leads_with_probability']:,} leads carry a probability."
        )
    out = BENCH / "results" / f"predictive-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"\nJSON: {out.relative_to(BENCH.parent)}")
    if not summary["train_within_target"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
