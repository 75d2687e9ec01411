"""Data for the page-latency benchmark (bench/pages.py): 1,000,000 leads and their history by COPY.

Plain Python and psycopg2 (no Django): the explanations are real ones, computed by the pure
scoring engine (scoring/engine.py) with the shipped default model on synthetic facts and events,
so `score_explanation` has the shape, size and numbers the app writes (plus "model_version").

Indexes other than primary keys and constraints are dropped for the load and rebuilt after it
with their exact definitions (pg_indexes), and FK triggers are off for the session
(session_replication_role = replica): the rows are generated consistent, so this is only speed.
"""

from __future__ import annotations

import io
import json
import math
import random
import time
import unicodedata
from collections import defaultdict
from datetime import datetime, timedelta

from handoff.sla import Schedule, add_business_hours  # pure: zoneinfo only
from scoring import engine  # pure Python, no Django

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty "
    "Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua "
    "Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Anna Ben "
    "Chloe Emma Felix Grace Hugo Ines Jonas Kira Liam Maya Noah Olivia Quinn Rosa Sam Tara Uma "
    "Victor Wendy Xavier Yara Zoe Amir Bea Carlos Dana Elif Farah Goran Hana Ivan Jana Kenji Lena "
    "Mateo Nina Omar Priya Rafael Sofia Tomas Ulla Vera Wei Lukas Leon Mia Hannah Lea Finn Elias"
).split()
# Ordered roughly by frequency; drawn with Zipf-like weights below, as real surnames are.
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Müller Schmidt "
    "Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Schröder "
    "Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Krause Meier "
    "Lehmann Dubois Moreau Laurent Simon Michel Lefebvre Leroy Roux David Bertrand Morel Fournier "
    "Girard Bonnet Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno "
    "Gallo Conti Kowalski Nowak Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Jansen "
    "Visser Smit Bakker Janssen Nielsen Jensen Hansen Pedersen Andersen Larsen Silva Santos Costa "
    "Oliveira Pereira Tanaka Suzuki Takahashi Watanabe Ito Yamamoto Nakamura Kim Park Choi Singh "
    "Patel Sharma Kumar Gupta Okafor Okonkwo Hughes Berg Novak Ivanova Petrova Horvat Kovač Yilmaz"
).split()
JOB_TITLES = (
    ("Chief Executive Officer", "c_level", "executive"),
    ("CTO", "c_level", "engineering"),
    ("Founder", "c_level", "executive"),
    ("VP of Marketing", "vp", "marketing"),
    ("Vice President, Sales", "vp", "sales"),
    ("VP Engineering", "vp", "engineering"),
    ("Head of Growth", "director", "marketing"),
    ("Director of Engineering", "director", "engineering"),
    ("IT Director", "director", "it"),
    ("Director of Operations", "director", "operations"),
    ("Marketing Manager", "manager", "marketing"),
    ("Demand Gen Manager", "manager", "marketing"),
    ("Engineering Manager", "manager", "engineering"),
    ("IT Manager", "manager", "it"),
    ("Sales Development Representative", "individual", "sales"),
    ("Account Executive", "individual", "sales"),
    ("Senior Software Engineer", "individual", "engineering"),
    ("DevOps Engineer", "individual", "engineering"),
    ("Product Manager", "manager", "product"),
    ("Head of People", "director", "hr"),
    ("Procurement Lead", "manager", "finance"),
    ("Finance Controller", "manager", "finance"),
    ("Operations Analyst", "individual", "operations"),
    ("Data Analyst", "individual", "engineering"),
    ("Customer Success Manager", "manager", "support"),
    ("Solutions Architect", "individual", "engineering"),
    ("Content Strategist", "individual", "marketing"),
    ("Marketing Intern", "student", "marketing"),
)
INDUSTRIES = (
    "software saas fintech financial_services healthcare ecommerce manufacturing logistics "
    "education media telecom energy consulting insurance real_estate retail government"
).split()
COUNTRIES = (
    ("US", 30),
    ("GB", 10),
    ("DE", 10),
    ("FR", 6),
    ("NL", 4),
    ("CA", 5),
    ("AU", 4),
    ("SE", 2),
    ("IE", 2),
    ("ES", 4),
    ("IT", 4),
    ("PL", 3),
    ("IN", 6),
    ("BR", 5),
    ("JP", 3),
    ("MX", 2),
)
SOURCES = (
    ("organic_search", 24),
    ("paid_search", 14),
    ("paid_social", 10),
    ("email", 10),
    ("referral", 8),
    ("direct", 10),
    ("event", 5),
    ("partner", 5),
    ("webinar", 6),
    ("content", 6),
    ("", 2),
)
UTM_SOURCES = ("google", "linkedin", "facebook", "newsletter", "g2", "capterra", "twitter", "bing")
UTM_MEDIUMS = ("cpc", "email", "social", "organic", "display", "referral")
CAMPAIGNS = tuple(f"2026-{q}-{t}" for q in ("q1", "q2", "q3", "q4") for t in ("launch", "nurture", "abm"))
PERSONAL = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com")
COMPANY_WORDS = (
    "Acme Globex Initech Umbrella Stark Wayne Hooli Vandelay Soylent Tyrell Cyberdyne Wonka "
    "Aperture Massive Dynamic Oscorp Pied Piper Nakatomi Gringotts Monarch Virtucon Contoso "
    "Fabrikam Northwind Adventure Tailspin Litware Proseware Wingtip Blue Yonder Alpine Lucerne "
    "Margie Fourth Coffee Humongous Trey Relecloud Woodgrove Bellows Kestrel Harbor Summit Pioneer "
    "Atlas Beacon Cobalt Delta Ember Falcon Granite Horizon Ionic Juniper Keystone Lumen Meridian "
    "Nimbus Orbit Prism Quartz Redwood Sierra Titan Vertex Willow Zenith Hoffmann Schmidt Becker"
).split()
COMPANY_SUFFIX = (
    "Labs Systems Software Analytics Logistics Health Bank Capital Retail Foods Energy Media "
    "Group Holdings Partners Solutions Technologies Networks Cloud Robotics Industries"
).split()
STAGE_MIX = (
    # stage, share of all leads
    ("subscriber", 0.12),
    ("lead", 0.55),
    ("mql", 0.10),
    ("sal", 0.03),
    ("sql", 0.02),
    ("opportunity", 0.01),
    ("customer", 0.01),
    ("recycled", 0.08),
    ("disqualified", 0.08),
)
MQL_HANDED_OFF_SHARE = 0.40  # of MQLs: already handed to an SDR (the rest is marketing's queue)
URLS = (
    "/",
    "/product",
    "/pricing",
    "/pricing",
    "/features",
    "/integrations",
    "/blog/lead-scoring-101",
    "/blog/mql-vs-sql",
    "/customers",
    "/security",
    "/docs/api",
    "/careers",
    "/about",
    "/demo",
)
ASSETS = (
    ("The state of B2B lead scoring 2026", "awareness"),
    ("MQL to SQL playbook", "awareness"),
    ("Case study: Northwind doubles SQLs", "consideration"),
    ("Webinar on demand: routing that SDRs trust", "consideration"),
    ("ROI calculator", "decision"),
    ("Security whitepaper", "decision"),
)
ITYPES = (
    ("page_view", 40),
    ("pricing_page_view", 4),
    ("email_open", 18),
    ("email_click", 8),
    ("content_download", 6),
    ("webinar_registration", 3),
    ("webinar_attendance", 2),
    ("form_submission", 4),
    ("newsletter_signup", 2),
    ("ad_click", 6),
    ("social_engagement", 3),
    ("trial_signup", 1),
    ("demo_request", 1),
    ("contact_request", 1),
    ("unsubscribe", 0.5),
    ("bounce", 0.3),
)
RULE_LABELS = {r["key"]: r["label"] for r in engine.DEFAULT_MODEL_DICT["rules"]}
REJECT_REASONS = ("not_a_fit", "bad_contact_data", "no_interest", "duplicate", "other")
RECYCLE_REASONS = ("no_budget_now", "bad_timing", "no_response", "not_ready")
DISQUALIFY_REASONS = ("not_a_fit", "competitor", "no_budget", "bad_data", "student")
PAINS = (
    "Reps waste half the day on leads that never answer",
    "Marketing and sales disagree on what an MQL is",
    "No visibility into why a lead was routed to whom",
    "Spreadsheet scoring breaks every quarter",
)


def _zipf_weights(n: int, s: float = 1.0, offset: float = 3.0) -> list[float]:
    return [1.0 / (r + offset) ** s for r in range(n)]


def ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def esc(value) -> str:
    """One field in COPY text format."""
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    s = value if isinstance(value, str) else str(value)
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def ts(moment: datetime) -> str:
    return moment.isoformat()


# --------------------------------------------------------------------------------------------
# Real explanations from the engine
# --------------------------------------------------------------------------------------------


def _synthetic_events(rng: random.Random, now: datetime, n: int, hot: bool) -> list[engine.InteractionFact]:
    kinds, weights = zip(*ITYPES, strict=True)
    events = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        if hot and i == 0:
            kind = rng.choice(("demo_request", "contact_request", "trial_signup", "webinar_attendance"))
        props: dict = {}
        if kind == "page_view":
            props = {"url": "https://www.example.com" + rng.choice(URLS)}
        elif kind == "content_download":
            asset, stage = rng.choice(ASSETS)
            props = {"asset": asset, "asset_stage": stage}
        elif kind.startswith("email"):
            props = {"campaign": rng.choice(CAMPAIGNS)}
        age = rng.expovariate(1 / (12 if hot else 45))
        events.append(
            engine.InteractionFact(
                id=10_000 + i, type=kind, occurred_at=now - timedelta(days=age), properties=props
            )
        )
    return events


def explanation_pool(rng: random.Random, now: datetime, per_bucket: int = 120, max_tries: int = 60_000):
    """{(grade, mql): [entry]} with entry = (fit_score, grade, engagement, score, copy_escaped_json)."""
    model = engine.model_from_dict(engine.DEFAULT_MODEL_DICT)
    pool: dict[tuple[str, bool], list] = defaultdict(list)
    wanted = {(g, m) for g in "ABCD" for m in (False,)} | {(g, True) for g in "ABC"} | {("F", False)}
    sizes = []
    for _ in range(max_tries):
        if all(len(pool[k]) >= per_bucket for k in wanted):
            break
        hot = rng.random() < 0.5
        title, seniority, dept = rng.choice(JOB_TITLES)
        good = rng.random() < 0.6
        facts = engine.LeadFacts(
            email=f"x@{rng.choice(PERSONAL) if rng.random() < 0.08 else 'corp.example'}",
            job_title=title,
            seniority=seniority,
            department=dept,
            country=rng.choice(("US", "GB", "DE", "CA", "FR", "IN", "BR", "JP")),
            source=rng.choice([s for s, _ in SOURCES]),
            company_domain="corp.example",
            industry=rng.choice(INDUSTRIES[:8] if good else INDUSTRIES),
            employee_count=rng.choice((20, 80, 250, 900, 3000, 12000)) if rng.random() < 0.9 else None,
            annual_revenue=rng.choice((1_000_000, 8_000_000, 40_000_000, 300_000_000))
            if rng.random() < 0.7
            else None,
        )
        n_events = rng.randint(6, 30) if hot else rng.randint(0, 12)
        result = engine.score_lead(model, facts, _synthetic_events(rng, now, n_events, hot), now)
        key = (result.fit.grade, result.mql)
        if key not in wanted or len(pool[key]) >= per_bucket:
            continue
        explanation = result.stored_explanation()  # the form scoring/services.py stores
        explanation["model_version"] = 1
        text = json.dumps(explanation, separators=(", ", ": "))
        sizes.append(len(text))
        pool[key].append(
            (
                result.fit.score,
                result.fit.grade,
                result.engagement.score,
                result.score,
                esc(text),
                explanation,
            )
        )
    missing = [k for k in wanted if not pool[k]]
    if missing:
        raise RuntimeError(f"explanation pool has no entries for {missing}")
    sizes.sort()
    return pool, {"entries": len(sizes), "bytes_median": sizes[len(sizes) // 2], "bytes_max": sizes[-1]}


# --------------------------------------------------------------------------------------------
# COPY helpers
# --------------------------------------------------------------------------------------------


class Copier:
    """COPY rows into a table in chunks of ~8 MB of text."""

    def __init__(self, cur, table: str, columns: list[str]):
        self.cur, self.table, self.columns = cur, table, columns
        self.buf: list[str] = []
        self.size = 0
        self.rows = 0

    def add(self, fields) -> None:
        line = "\t".join(fields) + "\n"
        self.buf.append(line)
        self.size += len(line)
        self.rows += 1
        if self.size > 8_000_000:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        data = io.StringIO("".join(self.buf))
        self.cur.copy_expert(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN", data)
        self.buf, self.size = [], 0


def check_not_null_coverage(cur, table: str, columns: list[str]) -> None:
    """Every NOT NULL column without a database default must be in the COPY list."""
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = %s AND is_nullable = 'NO' AND column_default IS NULL"
        " AND is_identity = 'NO'",
        [table],
    )
    missing = sorted({c for (c,) in cur.fetchall()} - set(columns) - {"id"})
    if missing:
        raise RuntimeError(f"{table}: NOT NULL columns without a value in the bench load: {missing}")


def drop_secondary_indexes(cur, tables: list[str]) -> list[str]:
    cur.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i"
        " WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [tables],
    )
    rows = cur.fetchall()
    for name, _ in rows:
        cur.execute(f'DROP INDEX "{name}"')
    return [d for _, d in rows]


# --------------------------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------------------------

LEAD_COLS = (
    "id email first_name last_name job_title seniority department phone country company_id source "
    "utm_source utm_medium utm_campaign consent_email_marketing attributes stage stage_changed_at "
    "owner_id handed_off_at sla_due_at nurture_until fit_score fit_grade engagement_score score "
    "score_explanation scored_at conversion_probability needs_rescore created_at updated_at"
).split()
COMPANY_COLS = "id name domain industry employee_count annual_revenue country created_at updated_at".split()
INTERACTION_COLS = "id lead_id type occurred_at properties source external_id received_at".split()
STAGECHANGE_COLS = (
    "id lead_id action from_stage to_stage actor_id actor_label reason note owner_id score details created_at"
).split()
SCORECHANGE_COLS = (
    "id lead_id model_id computed_at cause kind rule_key label interaction_id points value_after "
    "score_after fit_grade_after engagement_after"
).split()
REVIEW_COLS = (
    "id lead_id reviewer_id budget_status budget_amount budget_notes authority_status authority_role "
    "need_status need_pain timeline_status timeline_timeframe notes outcome reason policy_met "
    "policy_missing created_at"
).split()


def _chain(stage: str, rng: random.Random, sampled: bool) -> list[tuple[str, str, str]]:
    """(action, from, to) transitions that end in `stage`."""
    p, h = ("promote", "lead", "mql"), ("handoff", "mql", "mql")
    base: list[tuple[str, str, str]]
    if stage == "mql_queue":
        base = [p]
    elif stage == "mql_handed":
        base = [p, h]
    elif stage == "sal":
        base = [p, h, ("accept", "mql", "sal")]
    elif stage in ("sql", "opportunity", "customer"):
        base = [p, h, ("accept", "mql", "sal"), ("qualify", "sal", "sql")]
        if stage in ("opportunity", "customer"):
            base.append(("convert", "sql", "opportunity"))
        if stage == "customer":
            base.append(("win", "opportunity", "customer"))
    elif stage == "recycled":
        base = (
            [p, h, ("reject", "mql", "recycled")]
            if rng.random() < 0.5
            else [p, h, ("accept", "mql", "sal"), ("recycle", "sal", "recycled")]
        )
    elif stage == "disqualified":
        base = (
            [("disqualify", "lead", "disqualified")]
            if rng.random() < 0.6
            else [p, h, ("accept", "mql", "sal"), ("qualify", "sal", "sql"), ("lose", "sql", "disqualified")]
        )
    elif stage == "lead" and sampled:
        return [
            p,
            h,
            ("accept", "mql", "sal"),
            ("qualify", "sal", "sql"),
            ("lose", "sql", "disqualified"),
            ("reopen", "disqualified", "lead"),
        ]
    else:
        return []
    if sampled and base[0] == p:
        # an earlier cycle: promoted, handed off, rejected back to nurture, promoted again
        base = [p, h, ("reject", "mql", "recycled"), ("promote", "recycled", "mql"), *base[1:]]
    elif sampled and base[0][0] == "disqualify":
        base = [p, h, ("reject", "mql", "recycled"), ("disqualify", "recycled", "disqualified")]
    return base


def load(
    conn,
    *,
    leads: int,
    companies: int,
    interactions_per_lead: float,
    sample_size: int,
    users: dict,
    model_id: int,
    seed: int,
    now: datetime,
    log,
) -> dict:
    """Fill an empty, migrated database. Returns facts about what was loaded."""
    rng = random.Random(seed)
    t0 = time.perf_counter()
    stats: dict = {"timings_s": {}}
    pool, stats["explanation"] = explanation_pool(rng, now)
    log(f"explanation pool: {stats['explanation']} in {time.perf_counter() - t0:.1f}s")

    cur = conn.cursor()
    tables = [
        "leads_company",
        "leads_lead",
        "leads_interaction",
        "handoff_stagechange",
        "scoring_scorechange",
        "handoff_qualificationreview",
    ]
    for table, cols in zip(
        tables,
        (COMPANY_COLS, LEAD_COLS, INTERACTION_COLS, STAGECHANGE_COLS, SCORECHANGE_COLS, REVIEW_COLS),
        strict=True,
    ):
        check_not_null_coverage(cur, table, cols)
    index_defs = drop_secondary_indexes(cur, tables)
    cur.execute("SET session_replication_role = replica")  # no FK triggers during the load
    cur.execute("SET synchronous_commit = off")

    # ---- companies
    t = time.perf_counter()
    countries, cweights = zip(*COUNTRIES, strict=True)
    cp = Copier(cur, "leads_company", COMPANY_COLS)
    company_domain: list[str | None] = [None] * (companies + 1)
    company_name: list[str] = [""] * (companies + 1)
    for cid in range(1, companies + 1):
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIX)}"
        domain = None if rng.random() < 0.04 else f"{ascii_slug(name)}{cid}.example.com"
        company_domain[cid], company_name[cid] = domain, name
        created = now - timedelta(days=rng.uniform(30, 1500))
        size = int(math.exp(rng.uniform(math.log(3), math.log(60000))))
        cp.add(
            (
                str(cid),
                esc(name),
                esc(domain),
                rng.choice(INDUSTRIES),
                str(size) if rng.random() < 0.85 else r"\N",
                str(size * rng.randint(60_000, 250_000)) if rng.random() < 0.6 else r"\N",
                rng.choices(countries, cweights)[0],
                ts(created),
                ts(created + timedelta(days=rng.uniform(0, 20))),
            )
        )
    cp.flush()
    stats["timings_s"]["companies"] = round(time.perf_counter() - t, 1)
    log(f"companies: {companies} in {stats['timings_s']['companies']}s")

    # ---- leads
    t = time.perf_counter()
    stages, sweights = zip(*STAGE_MIX, strict=True)
    sources, srcw = zip(*SOURCES, strict=True)
    fn_w = _zipf_weights(len(FIRST_NAMES), 0.8)
    ln_w = _zipf_weights(len(LAST_NAMES), 1.0)
    fn_cum = _cum(fn_w)
    ln_cum = _cum(ln_w)
    fn_slug = [ascii_slug(n) for n in FIRST_NAMES]
    ln_slug = [ascii_slug(n) for n in LAST_NAMES]
    other_sdrs = users["other_sdr_ids"]
    bench_sdr = users["sdr_id"]
    marketer = users["marketer_id"]
    schedule = Schedule(timezone="Europe/Berlin")
    sample = set(rng.sample(range(1, leads + 1), sample_size))
    # The benchmark SDR has a realistic inbox: ~35 waiting hand-offs and ~60 SALs (routing caps an
    # SDR at 50 open leads by default); the other hand-offs are spread over the other SDRs.
    bench_waiting, bench_sal = 35, 60
    lead_meta: dict[int, tuple] = {}  # sampled and SDR-inbox leads: facts needed later
    counts: dict[str, int] = defaultdict(int)
    by_stage_owner = defaultdict(int)
    cp = Copier(cur, "leads_lead", LEAD_COLS)
    ic = Copier(cur, "leads_interaction", INTERACTION_COLS)
    sc = Copier(cur, "handoff_stagechange", STAGECHANGE_COLS)
    lc = Copier(cur, "scoring_scorechange", SCORECHANGE_COLS)
    rc = Copier(cur, "handoff_qualificationreview", REVIEW_COLS)
    next_iid = next_scid = next_lcid = next_rid = 1
    itypes, iweights = zip(*ITYPES, strict=True)
    icum = _cum(iweights)
    bisect = __import__("bisect").bisect
    for lid in range(1, leads + 1):
        stage = rng.choices(stages, sweights)[0]
        sampled = lid in sample
        handed = stage == "mql" and rng.random() < MQL_HANDED_OFF_SHARE
        f_i = bisect(fn_cum, rng.random() * fn_cum[-1])
        l_i = bisect(ln_cum, rng.random() * ln_cum[-1])
        first, last = FIRST_NAMES[f_i], LAST_NAMES[l_i]
        cid = rng.randint(1, companies) if rng.random() < 0.92 else None
        domain = (
            company_domain[cid]
            if cid and company_domain[cid] and rng.random() < 0.9
            else rng.choice(PERSONAL)
        )
        email = f"{fn_slug[f_i]}.{ln_slug[l_i]}.{lid}@{domain}"
        title, seniority, dept = rng.choice(JOB_TITLES)
        created = now - timedelta(days=rng.uniform(0, 1095) ** 1.0)
        age_days = (now - created).total_seconds() / 86400
        # Score from a real explanation consistent with the stage.
        if stage in ("mql", "sal", "sql", "opportunity", "customer"):
            grade = rng.choices("ABC", (30, 50, 20))[0]
            key = (grade, True)
        elif stage == "disqualified" and rng.random() < 0.3:
            key = ("F", False)
        else:
            key = (rng.choices("ABCD", (5, 20, 40, 35))[0], False)
        fit_score, fit_grade, engagement, score, expl_text, _ = rng.choice(pool[key])
        scored_at = now - timedelta(days=min(age_days, rng.uniform(0, 30)))
        # Stage timing and ownership.
        owner = handed_off = sla_due = nurture = None
        if stage == "mql":
            stage_changed = now - timedelta(days=min(age_days, rng.expovariate(1 / 25)))
            if handed:
                if by_stage_owner[("mql", bench_sdr)] < bench_waiting and rng.random() < 0.02:
                    owner = bench_sdr
                    handed_off = now - timedelta(hours=rng.uniform(0.2, 72))
                else:
                    owner = rng.choice(other_sdrs)
                    handed_off = now - timedelta(days=min(age_days, rng.uniform(0, 60)))
                handed_off = max(handed_off, stage_changed)
                sla_due = add_business_hours(handed_off, 4, schedule)
        elif stage in ("sal", "sql", "opportunity", "customer"):
            stage_changed = now - timedelta(days=min(age_days, rng.expovariate(1 / 40)))
            if stage == "sal" and by_stage_owner[("sal", bench_sdr)] < bench_sal and rng.random() < 0.03:
                owner = bench_sdr
            else:
                owner = rng.choice(other_sdrs)
            handed_off = stage_changed - timedelta(hours=rng.uniform(1, 30))
            sla_due = add_business_hours(handed_off, 4, schedule)
        elif stage == "recycled":
            stage_changed = now - timedelta(days=min(age_days, rng.uniform(0, 300)))
            nurture = (now + timedelta(days=rng.uniform(-60, 120))).date()
            owner = rng.choice(other_sdrs) if rng.random() < 0.4 else None
        elif stage == "disqualified":
            stage_changed = now - timedelta(days=min(age_days, rng.uniform(0, 600)))
        elif sampled:  # a lead that went round once and was reopened (see _chain)
            stage_changed = created + (now - created) * rng.uniform(0.3, 0.9)
        else:
            stage_changed = created
        if owner is not None:
            by_stage_owner[(stage, owner)] += 1
        sub_stage = "mql_handed" if handed else ("mql_queue" if stage == "mql" else stage)
        counts[sub_stage] += 1
        source = rng.choices(sources, srcw)[0]
        paid = source.startswith("paid")
        country = rng.choices(countries, cweights)[0]
        cp.add(
            (
                str(lid),
                email,
                esc(first),
                esc(last),
                title,
                seniority,
                dept,
                f"+1 555 {rng.randint(1000000, 9999999)}" if rng.random() < 0.5 else "",
                country,
                str(cid) if cid else r"\N",
                source,
                rng.choice(UTM_SOURCES) if paid else "",
                "cpc" if paid else (rng.choice(UTM_MEDIUMS) if rng.random() < 0.3 else ""),
                rng.choice(CAMPAIGNS) if rng.random() < 0.5 else "",
                "t" if rng.random() < 0.6 else ("f" if rng.random() < 0.5 else r"\N"),
                '{"plan_interest": "growth"}' if rng.random() < 0.2 else "{}",
                stage,
                ts(stage_changed),
                str(owner) if owner else r"\N",
                ts(handed_off) if handed_off else r"\N",
                ts(sla_due) if sla_due else r"\N",
                nurture.isoformat() if nurture else r"\N",
                str(fit_score),
                fit_grade,
                str(engagement),
                str(score),
                expl_text,
                ts(scored_at),
                f"{rng.random():.4f}" if rng.random() < 0.5 else r"\N",
                "f",
                ts(created),
                ts(max(scored_at, stage_changed, created)),
            )
        )
        # Interactions: ~N per lead for all; ~40 more for the sampled ones.
        n_int = _count(rng, interactions_per_lead) + (rng.randint(36, 44) if sampled else 0)
        my_iids = []
        for _ in range(n_int):
            kind = itypes[bisect(icum, rng.random() * icum[-1])]
            when = created + timedelta(seconds=rng.random() * (now - created).total_seconds())
            if kind == "page_view":
                props = '{"url": "https://www.example.com' + rng.choice(URLS) + '"}'
            elif kind == "content_download":
                asset, astage = rng.choice(ASSETS)
                props = f'{{"asset": "{asset}", "asset_stage": "{astage}"}}'
            elif kind in ("email_open", "email_click"):
                props = f'{{"campaign": "{rng.choice(CAMPAIGNS)}"}}'
            else:
                props = "{}"
            ext = f"evt_{next_iid}" if rng.random() < 0.5 else None
            ic.add(
                (
                    str(next_iid),
                    str(lid),
                    kind,
                    ts(when),
                    props,
                    "segment" if ext else "",
                    ext if ext else r"\N",
                    ts(when + timedelta(seconds=rng.uniform(0.1, 30))),
                )
            )
            my_iids.append(next_iid)
            next_iid += 1
        # Stage history.
        chain = _chain(sub_stage, rng, sampled)
        if chain:
            span = max(stage_changed - created, timedelta(minutes=len(chain)))
            for k, (action, frm, to) in enumerate(chain):
                when = stage_changed if k == len(chain) - 1 else created + span * ((k + 1) / (len(chain) + 1))
                system = action == "promote"
                sc.add(
                    (
                        str(next_scid),
                        str(lid),
                        action,
                        frm,
                        to,
                        r"\N"
                        if system
                        else str(
                            marketer if action in ("handoff", "disqualify") else (owner or other_sdrs[0])
                        ),
                        "scoring engine" if system else "",
                        rng.choice(REJECT_REASONS)
                        if action == "reject"
                        else (
                            rng.choice(RECYCLE_REASONS)
                            if action == "recycle"
                            else (
                                rng.choice(DISQUALIFY_REASONS)
                                if action in ("disqualify", "lose")
                                else ("threshold" if system else "")
                            )
                        ),
                        "Called twice, no answer; back to nurture."
                        if action in ("reject", "recycle") and rng.random() < 0.5
                        else "",
                        str(owner or other_sdrs[0]) if action == "handoff" else r"\N",
                        str(score) if system else r"\N",
                        '{"model_version": 1, "fit_grade": "'
                        + fit_grade
                        + '", "threshold": "engagement and fit"}'
                        if system
                        else "{}",
                        ts(when),
                    )
                )
                next_scid += 1
        # Score ledger: a total for every lead; ~40 rule-by-rule rows for the sampled ones.
        if sampled:
            events = rng.randint(11, 14)
            for e in range(events):
                when = created + (scored_at - created) * ((e + 1) / events)
                for rk in rng.sample(sorted(RULE_LABELS), 2):
                    pts = round(rng.uniform(-4, 12), 2)
                    lc.add(
                        (
                            str(next_lcid),
                            str(lid),
                            str(model_id),
                            ts(when),
                            "activity" if e % 5 else "decay",
                            "engagement",
                            rk,
                            RULE_LABELS[rk],
                            str(rng.choice(my_iids)) if my_iids else r"\N",
                            str(pts),
                            str(abs(pts) + rng.uniform(0, 20)),
                            str(max(0, score - (events - e))),
                            fit_grade,
                            str(max(0, engagement - (events - e))),
                        )
                    )
                    next_lcid += 1
                lc.add(
                    (
                        str(next_lcid),
                        str(lid),
                        str(model_id),
                        ts(when),
                        "activity",
                        "total",
                        "",
                        "Lead score",
                        r"\N",
                        str(rng.randint(-3, 8)),
                        str(max(0, score - (events - e - 1))),
                        str(max(0, score - (events - e - 1))),
                        fit_grade,
                        str(engagement),
                    )
                )
                next_lcid += 1
        else:
            lc.add(
                (
                    str(next_lcid),
                    str(lid),
                    str(model_id),
                    ts(scored_at),
                    "activity",
                    "total",
                    "",
                    "Lead score",
                    r"\N",
                    str(score),
                    str(score),
                    str(score),
                    fit_grade,
                    str(engagement),
                )
            )
            next_lcid += 1
        if sampled and any(a == "accept" for a, _, _ in chain):
            outcome = {
                "sql": "qualify",
                "opportunity": "qualify",
                "customer": "qualify",
                "recycled": "recycle",
                "disqualified": "disqualify",
            }.get(stage, "pending")
            rc.add(
                (
                    str(next_rid),
                    str(lid),
                    str(owner or other_sdrs[0]),
                    "confirmed",
                    "25000.00",
                    "Budget approved for Q3",
                    "confirmed",
                    "decision_maker",
                    "confirmed",
                    rng.choice(PAINS),
                    "confirmed" if outcome == "qualify" else "unknown",
                    "1_3_months",
                    "Good call; wants a pilot with two teams.",
                    outcome,
                    "" if outcome in ("qualify", "pending") else "bad_timing",
                    "t" if outcome == "qualify" else "f",
                    "[]" if outcome == "qualify" else '["timeline"]',
                    ts(stage_changed),
                )
            )
            next_rid += 1
        if sampled:
            lead_meta[lid] = (stage, len(chain), n_int)
        if lid % 100_000 == 0:
            log(f"leads: {lid:,} ({time.perf_counter() - t:.0f}s)")
    for c in (cp, ic, sc, lc, rc):
        c.flush()
    stats["timings_s"]["rows"] = round(time.perf_counter() - t, 1)
    stats["rows"] = {
        "leads": cp.rows,
        "interactions": ic.rows,
        "stage_changes": sc.rows,
        "score_changes": lc.rows,
        "reviews": rc.rows,
        "companies": companies,
    }
    stats["stages"] = dict(counts)
    stats["bench_sdr_inbox"] = {
        "waiting": by_stage_owner[("mql", bench_sdr)],
        "sals": by_stage_owner[("sal", bench_sdr)],
    }
    heavy = max(other_sdrs, key=lambda u: by_stage_owner[("mql", u)])
    stats["heavy_sdr"] = {
        "id": heavy,
        "waiting": by_stage_owner[("mql", heavy)],
        "sals": by_stage_owner[("sal", heavy)],
    }
    log(f"rows: {stats['rows']} in {stats['timings_s']['rows']}s")

    cur.execute("SET session_replication_role = origin")
    t = time.perf_counter()
    cur.execute("SET maintenance_work_mem = '1GB'")
    for d in index_defs:
        cur.execute(d)
    for table in tables:
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )
    conn.commit()
    stats["timings_s"]["indexes"] = round(time.perf_counter() - t, 1)
    log(f"indexes rebuilt ({len(index_defs)}) in {stats['timings_s']['indexes']}s")
    stats["sample"] = sorted(sample)
    stats["sample_meta"] = {str(k): v for k, v in lead_meta.items()}
    return stats


def _cum(weights) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _count(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    # spread around the mean: uniform 0.2x .. 1.8x
    return int(rng.uniform(0.2 * mean, 1.8 * mean) + 0.5)
