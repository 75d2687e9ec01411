"""Bulk data for bench/scoring.py: companies, leads and interactions loaded with COPY.

Plain psycopg2, no Django. The rows are what a CRM with 90 days of history holds:
- companies with a lognormal size, a mix of industries (some in the default ICP, most not) and
  countries; some without revenue or size;
- leads at those companies (about four per company), 15 % with a personal e-mail, across every
  stage; their cached scores are zero and their explanation empty: the bench's "cold" rescore
  gives them the scores the active model computes, as a running system would have;
- interactions in arrival order (ids and heap order follow time, so one lead's events are spread
  over the table as in production), per-lead activity lognormal (many leads with 1-3 events, a
  few with 100+), a B2B type mix with the properties the default model's rules read (`url`,
  `duration_seconds`, `asset_stage`), 70 % with an external_id.

Everything is deterministic for a given seed. Secondary indexes are dropped during COPY and
rebuilt afterwards with their original definitions (as a restore would), foreign-key triggers
are off for the loading session only (the generator keeps the references valid), then VACUUM
ANALYZE.
"""

from __future__ import annotations

import bisect
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leads.enrichment import department_from_title, seniority_from_title  # noqa: E402 (pure)

FIRST = (
    "Anna Ben Chloe David Emma Felix Grace Hugo Ines Jonas Kira Liam Maya Noah Olivia Paul Quinn "
    "Rosa Sam Tara Uma Victor Wendy Xavier Yara Zoe Amir Bea Carlos Dana Elif Farah Goran Hana"
).split()
LAST = (
    "Smith Müller García Rossi Dubois Kowalski Nielsen Jansen Silva Novak Tanaka Kim Singh Okafor "
    "Hughes Berg Fischer Moreau Costa Ivanova Larsen Patel Nguyen Schmidt Weber Meyer Wagner"
).split()
TITLES = (
    ("Chief Executive Officer", 2),
    ("CTO", 2),
    ("VP of Marketing", 3),
    ("Vice President, Sales", 2),
    ("Head of Growth", 3),
    ("Director of Engineering", 3),
    ("IT Director", 3),
    ("Marketing Manager", 8),
    ("Demand Gen Manager", 4),
    ("Sales Development Representative", 5),
    ("Account Executive", 5),
    ("Senior Software Engineer", 8),
    ("DevOps Engineer", 4),
    ("Product Manager", 5),
    ("Head of People", 1),
    ("Procurement Lead", 2),
    ("Finance Controller", 2),
    ("Operations Analyst", 4),
    ("Founder", 2),
    ("Marketing Intern", 2),
    ("Data Analyst", 5),
    ("Customer Success Manager", 4),
    ("Solutions Architect", 3),
    ("Content Strategist", 3),
    ("Student", 1),
    ("", 6),
)
INDUSTRIES = (
    ("software", 14),
    ("saas", 8),
    ("fintech", 5),
    ("financial_services", 4),
    ("healthcare", 6),
    ("ecommerce", 4),
    ("manufacturing", 8),
    ("logistics", 4),
    ("retail", 8),
    ("education", 6),
    ("media", 5),
    ("telecom", 4),
    ("energy", 3),
    ("consulting", 8),
    ("insurance", 4),
    ("real_estate", 4),
    ("", 5),
)
COUNTRIES = (
    ("US", 30),
    ("GB", 10),
    ("DE", 10),
    ("FR", 6),
    ("NL", 4),
    ("SE", 2),
    ("ES", 4),
    ("IT", 4),
    ("CA", 5),
    ("AU", 4),
    ("IN", 8),
    ("BR", 5),
    ("JP", 3),
    ("PL", 3),
    ("IE", 1),
    ("", 1),
)
STAGES = (
    ("lead", 78),
    ("subscriber", 8),
    ("mql", 4),
    ("sal", 2),
    ("sql", 1.5),
    ("opportunity", 1),
    ("customer", 0.5),
    ("recycled", 3),
    ("disqualified", 2),
)
SOURCES = (
    "organic_search",
    "paid_search",
    "paid_social",
    "email",
    "referral",
    "direct",
    "event",
    "partner",
    "webinar",
    "content",
)
UTM_SOURCES = ("google", "linkedin", "facebook", "newsletter", "g2", "capterra", "twitter", "bing")
UTM_MEDIUMS = ("cpc", "email", "social", "organic", "display", "referral")
CAMPAIGNS = tuple(f"{q}-{t}" for q in ("q1", "q2", "q3", "q4") for t in ("launch", "nurture", "abm"))
PERSONAL = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.de")
WORDS = (
    "acme globex initech umbrella stark wayne hooli vandelay soylent cyberdyne wonka tyrell oscorp "
    "aperture massive blue north river summit pixel quantum bright nimbus vertex orbit delta lumen"
).split()
TLDS = ("com", "io", "de", "co.uk", "fr", "net", "ai", "nl")
PAGES = (
    ("/", 20),
    ("/pricing", 9),
    ("/product", 12),
    ("/product/scoring", 8),
    ("/product/routing", 6),
    ("/blog/icp-guide", 10),
    ("/blog/mql-vs-sql", 8),
    ("/customers", 6),
    ("/docs/api", 8),
    ("/careers", 3),
    ("/integrations", 6),
    ("/security", 4),
)
# What a B2B marketing stack sends: mostly page views and e-mail events.
INTERACTION_MIX = (
    ("page_view", 44),
    ("pricing_page_view", 5),
    ("email_open", 18),
    ("email_click", 8),
    ("content_download", 5),
    ("ad_click", 5),
    ("webinar_registration", 2),
    ("webinar_attendance", 1),
    ("form_submission", 3),
    ("newsletter_signup", 1),
    ("social_engagement", 3),
    ("demo_request", 0.6),
    ("contact_request", 0.4),
    ("trial_signup", 1),
    ("cart_add", 0.5),
    ("unsubscribe", 0.6),
    ("bounce", 0.5),
)
DAYS = 90
EVENT_SOURCE = "bench-loader"


def _cum(pairs):
    values, cum, total = [], [], 0.0
    for v, w in pairs:
        total += w
        values.append(v)
        cum.append(total)
    return values, cum


class Picker:
    """Weighted choice by bisect on cumulative weights (random.choices is slower for k=1)."""

    def __init__(self, pairs, rng: random.Random):
        self.values, self.cum = _cum(pairs)
        self.total = self.cum[-1]
        self.rng = rng

    def __call__(self):
        return self.values[bisect.bisect_right(self.cum, self.rng.random() * self.total)]


def copy_text(value) -> str:
    """One COPY text-format field (values here never hold tabs/newlines/backslashes)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


class GenReader:
    """A file-like object over a generator of text lines, for cursor.copy_expert (streams)."""

    def __init__(self, lines):
        self.lines = iter(lines)
        self.buf = ""
        self.count = 0

    def read(self, size=-1):
        parts, n = [self.buf], len(self.buf)
        while size < 0 or n < size:
            chunk = next(self.lines, None)
            if chunk is None:
                break
            parts.append(chunk)
            n += len(chunk)
            self.count += 1
        data = "".join(parts)
        if size < 0 or len(data) <= size:
            self.buf = ""
            return data
        self.buf = data[size:]
        return data[:size]


def _json(value) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert "\\" not in text and "\t" not in text and "\n" not in text, text
    return text


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def companies(n: int, rng: random.Random, now: datetime):
    industry, country = Picker(INDUSTRIES, rng), Picker(COUNTRIES, rng)
    stamp = now.isoformat()
    for i in range(1, n + 1):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        size = None if rng.random() < 0.1 else int(min(200_000, rng.lognormvariate(4.8, 1.6))) + 1
        revenue = None if rng.random() < 0.45 else int(rng.lognormvariate(16, 2.2))
        yield (
            f"{i}\t{a.title()} {b.title()} {rng.choice(('Inc', 'GmbH', 'Ltd', 'SA', 'BV', 'Labs'))}"
            f"\t{a}{b}{i}.{rng.choice(TLDS)}\t{industry()}\t{copy_text(size)}\t{copy_text(revenue)}"
            f"\t{country()}\t{stamp}\t{stamp}\n"
        )


LEAD_COLUMNS = (
    "id, email, first_name, last_name, job_title, seniority, department, phone, country, source,"
    " utm_source, utm_medium, utm_campaign, consent_email_marketing, attributes, stage,"
    " stage_changed_at, nurture_until, fit_score, fit_grade, engagement_score, score,"
    " score_explanation, scored_at, needs_rescore, created_at, updated_at, company_id, owner_id"
)


def leads(n: int, n_companies: int, domains: dict[int, str], rng: random.Random, now: datetime):
    title, country, stage = Picker(TITLES, rng), Picker(COUNTRIES, rng), Picker(STAGES, rng)
    enriched: dict[str, tuple[str, str]] = {}
    attr_pool = [
        _json(
            {
                "form": rng.choice(("contact", "ebook", "webinar", "trial", "newsletter")),
                "product_interest": rng.sample(("scoring", "routing", "analytics", "api"), 2),
                "visits": rng.randrange(1, 40),
            }
        )
        for _ in range(500)
    ]
    base = now.timestamp()
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company_id = rng.randrange(1, n_companies + 1)
        if rng.random() < 0.15:
            email = f"{_ascii(first)}.{_ascii(last)}.{i}@{rng.choice(PERSONAL)}"
            if rng.random() < 0.5:
                company_id = None
        else:
            email = f"{_ascii(first)}.{_ascii(last)}.{i}@{domains[company_id]}"
        t = title()
        if t not in enriched:
            enriched[t] = (seniority_from_title(t), department_from_title(t))
        seniority, department = enriched[t]
        created = base - rng.uniform(0, 400) * 86400
        st = stage()
        nurture = None
        if st == "recycled":
            nurture = (now + timedelta(days=rng.randrange(-60, 90))).date().isoformat()
        consent = rng.choice((True, True, False, None))
        yield (
            f"{i}\t{email}\t{first}\t{last}\t{t}\t{seniority}\t{department}"
            f"\t+{rng.randrange(1, 99)} {rng.randrange(100, 999)} {rng.randrange(1000000, 9999999)}"
            f"\t{country()}\t{rng.choice(SOURCES)}\t{rng.choice(UTM_SOURCES)}\t{rng.choice(UTM_MEDIUMS)}"
            f"\t{rng.choice(CAMPAIGNS)}\t{copy_text(consent)}\t{rng.choice(attr_pool)}\t{st}"
            f"\t{_ts(created + rng.uniform(0, 30) * 86400)}\t{copy_text(nurture)}"
            f"\t0\tD\t0\t0\t{{}}\t\\N\tf\t{_ts(created)}\t{_ts(created)}\t{copy_text(company_id)}\t\\N\n"
        )


def _property_pools(rng: random.Random) -> dict[str, list[str]]:
    page = Picker(PAGES, rng)
    pools: dict[str, list[str]] = {}

    def pool(type_, make, k=3000):
        pools[type_] = [_json(make()) for _ in range(k)]

    pool(
        "page_view",
        lambda: {
            "url": f"https://www.leadqual.example{page()}?utm_source={rng.choice(UTM_SOURCES)}",
            "duration_seconds": rng.randrange(1, 600),
            "referrer": rng.choice(("https://www.google.com/", "https://www.linkedin.com/", "")),
        },
    )
    pool(
        "pricing_page_view",
        lambda: {"url": "https://www.leadqual.example/pricing", "duration_seconds": rng.randrange(1, 900)},
    )
    for t in ("email_open", "email_click"):
        pool(t, lambda: {"campaign": rng.choice(CAMPAIGNS), "message_id": f"m-{rng.randrange(10**9)}"})
    pool(
        "content_download",
        lambda: {
            "asset": rng.choice(("icp-ebook.pdf", "roi-calculator.xlsx", "case-study.pdf", "security.pdf")),
            "asset_stage": rng.choice(("awareness", "awareness", "consideration", "decision")),
        },
    )
    pool("ad_click", lambda: {"campaign": rng.choice(CAMPAIGNS), "network": rng.choice(UTM_SOURCES)})
    for t in ("webinar_registration", "webinar_attendance"):
        pool(t, lambda: {"webinar": f"w-{rng.randrange(40)}", "minutes": rng.randrange(1, 60)})
    for t in ("form_submission", "newsletter_signup", "demo_request", "contact_request", "trial_signup"):
        pool(t, lambda: {"form": rng.choice(("contact", "demo", "webinar", "trial")), "page": page()})
    pool("social_engagement", lambda: {"network": rng.choice(("linkedin", "twitter")), "action": "like"})
    pool("cart_add", lambda: {"plan": rng.choice(("starter", "growth", "enterprise"))})
    pool("unsubscribe", lambda: {"list": "newsletter"}, k=5)
    pool("bounce", lambda: {"kind": rng.choice(("hard", "soft"))}, k=5)
    return pools


INTERACTION_COLUMNS = "id, lead_id, type, occurred_at, properties, source, external_id, received_at"


def interactions(n_leads: int, total: int, rng: random.Random, now: datetime, slices: int = 2000):
    """`total` events over DAYS days, in time order; per-lead activity is lognormal."""
    type_pick = Picker(INTERACTION_MIX, rng)
    pools = _property_pools(rng)
    cum, acc = [], 0.0
    for _ in range(n_leads):
        acc += rng.lognormvariate(0, 1.1)
        cum.append(acc)
    end = now.timestamp() - 60
    start = end - DAYS * 86400
    span = (end - start) / slices
    ident = 0
    per_slice = total / slices
    carried = 0.0
    population = range(1, n_leads + 1)
    for s in range(slices):
        carried += per_slice
        k = int(carried)
        carried -= k
        lo = start + s * span
        for lead_id in rng.choices(population, cum_weights=cum, k=k):
            ident += 1
            type_ = type_pick()
            occurred = lo + rng.random() * span
            ext = f"ld-{ident}" if rng.random() < 0.7 else "\\N"
            yield (
                f"{ident}\t{lead_id}\t{type_}\t{_ts(occurred)}\t{rng.choice(pools[type_])}"
                f"\t{EVENT_SOURCE}\t{ext}\t{_ts(occurred + rng.random() * 120)}\n"
            )


def _secondary_indexes(cur, table: str) -> list[tuple[str, str]]:
    """Indexes not backing a constraint (plain and partial unique ones): dropped for the COPY."""
    cur.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = %s::regclass AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        [table],
    )
    return cur.fetchall()


def load(conn, *, n_leads: int, n_companies: int, n_interactions: int, seed: int, log) -> dict:
    """COPY everything into an empty, migrated database. Returns timings."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    timings: dict[str, float] = {}
    cur = conn.cursor()
    cur.execute("SET session_replication_role = replica")  # FK triggers off in this session only
    cur.execute("SET maintenance_work_mem = '1GB'")
    cur.execute("SET synchronous_commit = off")
    dropped = []
    for table in ("leads_lead", "leads_interaction"):
        for name, definition in _secondary_indexes(cur, table):
            dropped.append((name, definition))
            cur.execute(f'DROP INDEX "{name}"')
    conn.commit()

    t0 = time.perf_counter()
    cur.copy_expert(
        "COPY leads_company (id, name, domain, industry, employee_count, annual_revenue, country,"
        " created_at, updated_at) FROM STDIN",
        GenReader(companies(n_companies, rng, now)),
        size=1 << 20,
    )
    conn.commit()
    cur.execute("SELECT id, domain FROM leads_company")
    domains = dict(cur.fetchall())
    timings["companies_s"] = round(time.perf_counter() - t0, 1)
    log(f"load: {n_companies:,} companies in {timings['companies_s']} s")

    t0 = time.perf_counter()
    cur.copy_expert(
        f"COPY leads_lead ({LEAD_COLUMNS}) FROM STDIN",
        GenReader(leads(n_leads, n_companies, domains, rng, now)),
        size=1 << 20,
    )
    conn.commit()
    del domains
    timings["leads_s"] = round(time.perf_counter() - t0, 1)
    log(f"load: {n_leads:,} leads in {timings['leads_s']} s")

    t0 = time.perf_counter()
    reader = GenReader(interactions(n_leads, n_interactions, rng, now))
    cur.copy_expert(f"COPY leads_interaction ({INTERACTION_COLUMNS}) FROM STDIN", reader, size=1 << 20)
    conn.commit()
    timings["interactions_s"] = round(time.perf_counter() - t0, 1)
    log(f"load: {reader.count:,} interactions in {timings['interactions_s']} s")

    t0 = time.perf_counter()
    for _name, definition in dropped:
        cur.execute(definition)
        conn.commit()
    for table in ("leads_company", "leads_lead", "leads_interaction"):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT coalesce(max(id), 1) FROM {table}))"
        )
    conn.commit()
    timings["indexes_s"] = round(time.perf_counter() - t0, 1)
    log(f"load: {len(dropped)} indexes rebuilt in {timings['indexes_s']} s")

    t0 = time.perf_counter()
    conn.autocommit = True
    for table in ("leads_company", "leads_lead", "leads_interaction"):
        cur.execute(f"VACUUM (ANALYZE) {table}")
    conn.autocommit = False
    timings["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)
    cur.execute("RESET session_replication_role")
    cur.close()
    log(f"load: VACUUM ANALYZE in {timings['vacuum_analyze_s']} s")
    timings["interactions"] = reader.count
    timings["mean_interactions_per_lead"] = round(reader.count / max(1, n_leads), 2)
    return timings
