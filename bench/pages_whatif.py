#!/usr/bin/env python
"""What-if for bench/pages.py's findings: the queue's slow SQL now vs with the proposed fix.

Run against a database that bench/pages.py loaded and kept:
    .venv/bin/python bench/pages.py --keep          # once (or --reuse --keep)
    .venv/bin/python bench/pages_whatif.py [--db leadqual_bench_pages] [--runs 5]

For each case it runs the current query (as the app sends it today) and the proposed one, each
`--runs` times after one warm-up, with EXPLAIN (ANALYZE, BUFFERS), inside one transaction that
creates the proposed indexes and is rolled back: the database is left as it was. Prints the
median execution times and the plan nodes; writes bench/results/pages-whatif-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

BENCH = Path(__file__).resolve().parent
QUEUE = '"handed_off_at" IS NULL AND "stage" = \'mql\''
W = '"leads_lead"."handed_off_at" IS NULL AND "leads_lead"."stage" = \'mql\''
LEAD_COLS = '"leads_lead".*, "leads_company".*'
FROM = (
    'FROM "leads_lead" LEFT OUTER JOIN "leads_company" ON ("leads_lead"."company_id" = "leads_company"."id")'
)
ORDER = 'ORDER BY "leads_lead"."score" DESC, "leads_lead"."id" DESC'

# The DDL Django generates for the proposed Meta.indexes (schema_editor(collect_sql=True)).
PROPOSED_INDEXES = [
    f'CREATE INDEX "{name}" ON "{table}" ({cols}){" WHERE (" + QUEUE + ")" if partial else ""}'
    for name, table, cols, partial in (
        ("lead_mql_queue_facets", "leads_lead", '"fit_grade", "source") INCLUDE ("id"', True),
        ("lead_mql_queue_engagement", "leads_lead", '"engagement_score" DESC, "id" DESC', True),
        ("lead_mql_queue_age", "leads_lead", '"stage_changed_at", "id"', True),
        ("lead_mql_queue_first_name", "leads_lead", '(UPPER("first_name")) text_pattern_ops', True),
        ("lead_mql_queue_last_name", "leads_lead", '(UPPER("last_name")) text_pattern_ops', True),
        ("lead_mql_queue_company", "leads_lead", '"company_id"', True),
        ("company_name_upper_prefix", "leads_company", '(UPPER("name")) text_pattern_ops', False),
    )
]


def search_now(q: str) -> str:
    u = q.replace("'", "''")
    return (
        f'SELECT {LEAD_COLS} {FROM} WHERE ({W} AND ("leads_lead"."email"::text LIKE \'{u.lower()}%\''
        f' OR UPPER("leads_lead"."first_name"::text) LIKE UPPER(\'{u}%\')'
        f' OR UPPER("leads_lead"."last_name"::text) LIKE UPPER(\'{u}%\')'
        f' OR UPPER("leads_company"."name"::text) LIKE UPPER(\'{u}%\'))) {ORDER} LIMIT 51'
    )


def search_proposed(cur, q: str) -> str:
    """One OR whose every arm has an index on leads_lead (a BitmapOr): the company arm as
    company_id = ANY(ARRAY(SELECT id FROM leads_company WHERE UPPER(name) LIKE ...)), which Django
    writes as Func(ArraySubquery(Company.objects.filter(name__istartswith=q).values("id")),
    function="ANY") instead of the join that company__name__istartswith makes."""
    u = q.replace("'", "''")
    return (
        f'SELECT {LEAD_COLS} {FROM} WHERE ({W} AND ("leads_lead"."email"::text LIKE \'{u.lower()}%\''
        f' OR UPPER("leads_lead"."first_name"::text) LIKE UPPER(\'{u}%\')'
        f' OR UPPER("leads_lead"."last_name"::text) LIKE UPPER(\'{u}%\')'
        f' OR "leads_lead"."company_id" = ANY(ARRAY(SELECT U0."id" FROM "leads_company" U0'
        f" WHERE UPPER(U0.\"name\"::text) LIKE UPPER('{u}%'))))) {ORDER} LIMIT 51"
    )


def cases(cur) -> list[dict]:
    counts = (
        'SELECT "leads_lead"."fit_grade", COUNT("leads_lead"."id") AS "n" FROM "leads_lead"'
        f" WHERE ({W}) GROUP BY 1"
    )
    sources = (
        'SELECT DISTINCT "leads_lead"."source" FROM "leads_lead"'
        f' WHERE ({W} AND NOT ("leads_lead"."source" = \'\' AND "leads_lead"."source" IS NOT NULL))'
        " ORDER BY 1 ASC LIMIT 50"
    )
    top = (
        f"SELECT {LEAD_COLS} {FROM} WHERE ({W}) ORDER BY "
        + '"leads_lead"."{0}" {1}, "leads_lead"."id" {1} LIMIT 51'
    )
    eng = top.format("engagement_score", "DESC")
    age = top.format("stage_changed_at", "ASC")
    newest = top.format("stage_changed_at", "DESC")
    deep_now = f"SELECT {LEAD_COLS} {FROM} WHERE ({W}) {ORDER} LIMIT 51 OFFSET 9950"
    deep_new = (
        f'SELECT {LEAD_COLS} {FROM} WHERE "leads_lead"."id" IN (SELECT "id" FROM "leads_lead" WHERE ({W})'
        f" {ORDER.replace(chr(34) + 'leads_lead' + chr(34) + '.', '')} LIMIT 51 OFFSET 9950) {ORDER}"
    )
    return [
        {"name": "mql_queue_counts() (every queue page)", "now": counts, "proposed": counts},
        {"name": "queue_sources() (every queue page)", "now": sources, "proposed": sources},
        {"name": "sort=engagement", "now": eng, "proposed": eng},
        {"name": "sort=age", "now": age, "proposed": age},
        {"name": "sort=newest", "now": newest, "proposed": newest},
        {"name": "page=200 (OFFSET 9950), deferred join", "now": deep_now, "proposed": deep_new},
        {"name": "search q=Schw", "now": search_now("Schw"), "proposed": None, "q": "Schw"},
        {"name": "search q=Qzx (no match)", "now": search_now("Qzx"), "proposed": None, "q": "Qzx"},
        {"name": "search q=S (1 letter)", "now": search_now("S"), "proposed": None, "q": "S"},
    ]


def explain(cur, sql: str, runs: int) -> dict:
    times, plan = [], []
    for i in range(runs + 1):
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [r[0] for r in cur.fetchall()]
        ms = float(next(x for x in plan if x.startswith("Execution Time")).split(":")[1].split()[0])
        if i:  # the first run warms the cache
            times.append(ms)
    nodes = [ln.strip() for ln in plan if "->" in ln or ln and not ln.startswith(" ")][:8]
    return {"median_ms": round(statistics.median(times), 2), "runs_ms": times, "nodes": nodes, "plan": plan}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="leadqual_bench_pages")
    ap.add_argument("--dsn", default="host=127.0.0.1 port=5432 user=postgres")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    conn = psycopg2.connect(f"{args.dsn} dbname={args.db}")
    cur = conn.cursor()
    out = {
        "started_at": datetime.now(UTC).isoformat(),
        "db": args.db,
        "indexes": PROPOSED_INDEXES,
        "cases": [],
    }
    todo = cases(cur)
    for c in todo:
        c["now_result"] = explain(cur, c["now"], args.runs)
    for ddl in PROPOSED_INDEXES:  # same transaction; rolled back at the end
        cur.execute(ddl)
    cur.execute("ANALYZE leads_lead")
    cur.execute("ANALYZE leads_company")
    for c in todo:
        sql = c["proposed"] or search_proposed(cur, c["q"])
        c["proposed_sql"] = sql
        c["proposed_result"] = explain(cur, sql, args.runs)
    conn.rollback()
    conn.close()
    print("| query | now (median ms) | proposed (median ms) | proposed plan |")
    print("|---|---|---|---|")
    for c in todo:
        top = next((n for n in c["proposed_result"]["nodes"] if "Scan" in n), "")
        print(
            f"| {c['name']} | {c['now_result']['median_ms']} | {c['proposed_result']['median_ms']} |"
            f" {top[:90].replace('|', '/')} |"
        )
        out["cases"].append(
            {k: c[k] for k in ("name", "now", "now_result", "proposed_sql", "proposed_result") if k in c}
        )
    path = BENCH / "results" / f"pages-whatif-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
