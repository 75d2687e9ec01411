"""Realistic B2B demo data as plain item dicts, in the shapes leads/api/serializers.py accepts.

Pure and deterministic: the same seed, size and `now` give the same items, so a demo can be
rebuilt exactly and tests compare two generations without a database. Nothing here writes;
`manage.py seed_demo` hands the items to the services, the same path integrations take.

Each lead gets a behaviour segment (casual visitor, engaged, hand-raiser, job seeker, ...) that
decides its interactions; the segment is not stored, the scoring has to find it from behaviour.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from .vocabulary import InteractionType as T

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Susan", "Richard", "Jessica", "Thomas", "Sarah", "Daniel", "Karen",
    "Matthew", "Emily", "Anthony", "Olivia", "Mark", "Sophie", "Paul", "Emma", "Steven", "Hannah",
    "Andrew", "Chloe", "Lukas", "Lena", "Jonas", "Mia", "Felix", "Clara", "Louis", "Camille",
    "Hugo", "Manon", "Daan", "Sanne", "Liam", "Noor", "Oliver", "Amelia", "Jack", "Isla", "Noah",
    "Grace", "Priya", "Arjun", "Wei", "Mei", "Hiroshi", "Yuki", "Carlos", "Lucia", "Mateo",
    "Sofia", "Ahmed", "Fatima", "Omar", "Leila", "Erik", "Ingrid", "Piotr", "Zofia", "Aisha",
    "Kwame",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Dubois", "Lefebvre",
    "Moreau", "Laurent", "de Vries", "Jansen", "van Dijk", "Bakker", "Patel", "Singh", "Chen",
    "Wang", "Tanaka", "Sato", "Kim", "Park", "Nguyen", "Silva", "Santos", "Rossi", "Bianchi",
    "Kowalski", "Nowak", "Andersson", "Johansson", "O'Brien", "Murphy", "MacDonald", "Campbell",
)  # fmt: skip

# (industry, weight, revenue per employee in USD or None when revenue is not a thing there,
#  words a company name in it ends with)
INDUSTRIES: tuple[tuple[str, int, int | None, tuple[str, ...]], ...] = (
    ("software", 20, 220_000, ("Labs", "Software", "Cloud", "AI", "Systems", "Data")),
    ("fintech", 8, 300_000, ("Pay", "Ledger", "Capital", "Money")),
    ("financial_services", 8, 350_000, ("Bank", "Insurance", "Partners", "Investments")),
    ("healthcare", 9, 150_000, ("Health", "Care", "Medical", "Clinics")),
    ("ecommerce", 8, 250_000, ("Shop", "Market", "Commerce", "Store")),
    ("manufacturing", 10, 280_000, ("Industries", "Manufacturing", "Components", "Works")),
    ("logistics", 6, 200_000, ("Logistics", "Freight", "Transport", "Shipping")),
    ("education", 5, 90_000, ("Learning", "Academy", "Education")),
    ("retail", 7, 180_000, ("Retail", "Outfitters", "Goods", "Stores")),
    ("media", 5, 160_000, ("Media", "Studios", "Publishing", "Digital")),
    ("professional_services", 5, 170_000, ("Consulting", "Advisory", "Group")),
    ("telecommunications", 3, 400_000, ("Telecom", "Networks", "Connect")),
    ("government", 3, None, ("Council", "Agency", "Authority")),
    ("nonprofit", 3, 80_000, ("Foundation", "Trust", "Alliance")),
)
NAME_STEMS = (
    "North", "Blue", "Bright", "Silver", "Iron", "Green", "Red", "Summit", "Harbor", "Cedar",
    "Maple", "Granite", "Pioneer", "Atlas", "Nova", "Vertex", "Quantum", "Lumen", "Apex", "Orbit",
    "Beacon", "Falcon", "Riverside", "Oak", "Pine", "Crest", "Stone", "Sky", "Wave", "Polar",
    "Evergreen", "Cobalt", "Amber", "Horizon", "Keystone", "Meridian", "Zenith", "Vanguard",
    "Clearwater", "Westfield", "Eastgate", "Highland", "Lakeside", "Sterling", "Copper", "Hudson",
    "Rhine", "Thames", "Alpine", "Coral", "Delta", "Ember", "Fjord", "Glacier", "Juniper", "Kestrel",
)  # fmt: skip
# (country, weight, top-level domain, phone prefix)
COUNTRIES = (
    ("US", 40, "com", "+1"),
    ("GB", 12, "co.uk", "+44"),
    ("DE", 10, "de", "+49"),
    ("FR", 7, "fr", "+33"),
    ("CA", 7, "ca", "+1"),
    ("NL", 5, "nl", "+31"),
    ("AU", 5, "com.au", "+61"),
    ("SE", 2, "se", "+46"),
    ("ES", 2, "es", "+34"),
    ("IE", 2, "ie", "+353"),
    ("CH", 2, "ch", "+41"),
    ("IN", 2, "in", "+91"),
    ("BR", 1, "com.br", "+55"),
    ("SG", 1, "sg", "+65"),
    ("JP", 1, "jp", "+81"),
    ("PL", 1, "pl", "+48"),
)
# seniority (as leads/enrichment.py derives it from the title) -> (share of leads in %, titles)
TITLES: dict[str, tuple[int, tuple[str, ...]]] = {
    "c_level": (9, ("CEO", "CTO", "CFO", "COO", "CMO", "Co-Founder", "Chief Revenue Officer")),
    "vp": (12, ("VP Engineering", "VP of Sales", "VP Marketing", "Head of Marketing", "Head of Growth",
                "Head of IT", "VP Operations", "Head of Revenue Operations")),
    "director": (15, ("Director of IT", "Director of Marketing", "Director of Demand Generation",
                      "Sales Director", "Engineering Director", "Director of Procurement")),
    "manager": (26, ("Marketing Manager", "IT Manager", "Sales Manager", "Product Manager",
                     "Procurement Lead", "Engineering Manager", "Marketing Operations Manager",
                     "Customer Success Team Lead")),
    "individual": (35, ("Software Engineer", "Data Analyst", "Marketing Specialist",
                        "Account Executive", "Sales Development Representative", "DevOps Engineer",
                        "Content Writer", "Systems Administrator", "Accountant", "Consultant")),
    "student": (3, ("Student", "MBA Student", "Intern", "Marketing Intern", "PhD Candidate")),
}  # fmt: skip
STUDENT_TITLES = TITLES["student"][1]

# Shares: 12% personal e-mail, 1% competitors; the rest work at one of the generated companies.
PERSONAL_DOMAINS = (
    ("gmail.com", 50),
    ("yahoo.com", 10),
    ("hotmail.com", 10),
    ("outlook.com", 10),
    ("icloud.com", 6),
    ("gmx.de", 5),
    ("web.de", 4),
    ("proton.me", 5),
)
PERSONAL_SHARE = 0.12
COMPETITORS = (
    {
        "name": "HubSpot",
        "domain": "hubspot.com",
        "industry": "software",
        "employee_count": 7600,
        "annual_revenue": 2_600_000_000,
        "country": "US",
    },
    {
        "name": "Salesforce",
        "domain": "salesforce.com",
        "industry": "software",
        "employee_count": 20_000,
        "annual_revenue": 9_000_000_000,
        "country": "US",
    },
    {
        "name": "Pipedrive",
        "domain": "pipedrive.com",
        "industry": "software",
        "employee_count": 900,
        "annual_revenue": 150_000_000,
        "country": "EE",
    },
)
COMPETITOR_SHARE = 0.01
UNIVERSITIES = (
    {"name": "Northfield University", "domain": "northfield.edu", "country": "US"},
    {"name": "Lakeside Business School", "domain": "lakeside-business.edu", "country": "GB"},
    {"name": "Technische Hochschule Rheinland", "domain": "th-rheinland.de", "country": "DE"},
)

# source -> list of (utm_source, utm_medium, utm_campaign) a lead from it may carry.
CHANNELS: dict[str, tuple[int, tuple[tuple[str, str, str], ...]]] = {
    "organic_search": (22, (("google", "organic", ""), ("bing", "organic", ""))),
    "paid_search": (
        18,
        (
            ("google", "cpc", "q4-brand"),
            ("google", "cpc", "lead-scoring-generic"),
            ("google", "cpc", "competitor-hubspot"),
            ("bing", "cpc", "q4-brand"),
        ),
    ),
    "referral": (
        10,
        (("g2", "referral", ""), ("capterra", "referral", ""), ("revops-weekly", "referral", "")),
    ),
    "partner": (
        6,
        (
            ("northwind-consulting", "partner", "partner-co-marketing"),
            ("crm-integrators", "partner", "partner-webinar-series"),
        ),
    ),
    "event": (
        7,
        (("saas-connect", "event", "booth-scan-2025"), ("revops-summit", "event", "revops-summit-talk")),
    ),
    "outbound": (
        10,
        (("outreach", "email", "abm-enterprise-q4"), ("linkedin", "inmail", "sdr-fintech-sequence")),
    ),
    "social": (
        10,
        (
            ("linkedin", "paid_social", "icp-retargeting"),
            ("linkedin", "social", ""),
            ("twitter", "social", ""),
        ),
    ),
    "email": (9, (("newsletter", "email", "monthly-digest"), ("nurture", "email", "mql-nurture-track"))),
    "direct": (8, (("", "", ""),)),
}
TECH_STACK = (
    "salesforce", "hubspot", "pipedrive", "marketo", "segment", "snowflake", "bigquery", "aws",
    "gcp", "azure", "zendesk", "intercom", "slack", "stripe", "shopify", "sap",
)  # fmt: skip
PLANS = ("starter", "growth", "enterprise")

PAGES = (
    "/", "/product", "/features/lead-scoring", "/features/icp", "/features/handoff",
    "/integrations", "/customers", "/about", "/blog/what-is-an-mql", "/blog/bant-is-not-dead",
    "/blog/icp-in-five-steps", "/blog/lead-scoring-decay", "/docs/api",
)  # fmt: skip
CAREERS_PAGES = ("/careers", "/careers/senior-backend-engineer", "/careers/account-executive", "/careers/sdr")
ASSETS = (
    ("ebook-state-of-lead-qualification", "awareness"),
    ("checklist-mql-definitions", "awareness"),
    ("guide-icp-workbook", "consideration"),
    ("whitepaper-scoring-models-compared", "consideration"),
    ("case-study-fintech-pipeline", "decision"),
    ("roi-calculator", "decision"),
)
WEBINARS = ("mql-to-sql-in-30-days", "icp-workshop", "scoring-with-closed-loop-data")
EMAIL_CAMPAIGNS = ("monthly-digest", "mql-nurture-track", "webinar-invite", "product-update")

# Segment -> share of the non-student leads.
SEGMENTS = (
    ("casual", 55),
    ("engaged", 22),
    ("hand_raiser", 5),
    ("job_seeker", 5),
    ("unsubscriber", 5),
    ("bouncer", 4),
    ("dormant", 4),
)
PHONE_PREFIXES = {country: prefix for country, _, _, prefix in COUNTRIES}
Event = tuple[str, dict[str, Any]]


def demo_data(
    *, lead_count: int, seed: int, days: int, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Lead items and interaction items for `lead_count` leads over the `days` before `now`."""
    rng = random.Random(seed)
    companies = demo_companies(rng, max(1, lead_count // 4))
    # Bigger companies get more leads, and the first work leads cover every company once.
    weights = [math.log(c["employee_count"] + 1) for c in companies]
    unassigned = list(reversed(companies))

    def next_company() -> dict[str, Any]:
        return unassigned.pop() if unassigned else rng.choices(companies, weights)[0]

    leads: list[dict[str, Any]] = []
    interactions: list[dict[str, Any]] = []
    used_emails: set[str] = set()
    for _ in range(lead_count):
        lead, segment = demo_lead(rng, companies, used_emails, next_company)
        leads.append(lead)
        interactions.extend(demo_interactions(rng, lead, segment, now=now, days=days))
    return leads, interactions


def demo_companies(rng: random.Random, count: int) -> list[dict[str, Any]]:
    companies = []
    domains: set[str] = set()
    industry_weights = [w for _, w, _, _ in INDUSTRIES]
    country_weights = [w for _, w, _, _ in COUNTRIES]
    while len(companies) < count:
        industry, _, revenue_per_employee, suffixes = rng.choices(INDUSTRIES, industry_weights)[0]
        country, _, tld, _ = rng.choices(COUNTRIES, country_weights)[0]
        stem, suffix = rng.choice(NAME_STEMS), rng.choice(suffixes)
        name = f"{stem}{rng.choice(('', ' '))}{suffix}"
        domain = f"{name.lower().replace(' ', '')}.{tld}"
        if domain in domains:
            domain = f"{stem.lower()}-{suffix.lower()}{len(companies)}.{tld}"
        domains.add(domain)
        # Log-skewed from 5 to 20,000: most companies are small (median about 100).
        employees = round(5 * (20_000 / 5) ** (rng.random() ** 1.5))
        company: dict[str, Any] = {
            "name": name,
            "domain": domain,
            "industry": industry,
            "employee_count": employees,
            "country": country,
        }
        if revenue_per_employee and rng.random() > 0.1:  # enrichment does not always know it
            revenue = employees * revenue_per_employee * rng.lognormvariate(0, 0.3)
            company["annual_revenue"] = int(round(revenue, -4))
        companies.append(company)
    return companies


def demo_lead(
    rng: random.Random, companies: list[dict[str, Any]], used_emails: set[str], next_company
) -> tuple[dict[str, Any], str]:
    """One lead item and its behaviour segment."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    titles = rng.choices(list(TITLES.values()), [w for w, _ in TITLES.values()])[0][1]
    title = rng.choice(titles)
    student = title in STUDENT_TITLES
    kind = rng.random()
    if student:
        company = dict(rng.choice(UNIVERSITIES), industry="education", employee_count=3000)
        domain = company["domain"] if rng.random() < 0.5 else _personal_domain(rng)
    elif kind < COMPETITOR_SHARE:
        company = dict(rng.choice(COMPETITORS))
        domain = company["domain"]
    elif kind < COMPETITOR_SHARE + PERSONAL_SHARE:
        domain = _personal_domain(rng)
        # A few say where they work on the form; most personal addresses come without a company.
        company = rng.choice(companies) if rng.random() < 0.3 else None
    else:
        company = next_company()
        domain = company["domain"]

    segment = "student" if student else rng.choices(SEGMENTS, [w for _, w in SEGMENTS])[0][0]
    source = rng.choices(list(CHANNELS), [w for w, _ in CHANNELS.values()])[0]
    utm_source, utm_medium, utm_campaign = rng.choice(CHANNELS[source][1])
    country = company["country"] if company and rng.random() < 0.9 else _country(rng)

    lead: dict[str, Any] = {
        "email": _unique_email(rng, first, last, domain, used_emails),
        "first_name": first,
        "last_name": last,
        "job_title": title,
        "country": country,
        "source": source,
    }
    if company:
        lead["company"] = dict(company)
    if rng.random() < 0.4 and country in PHONE_PREFIXES:
        number = f"{rng.randint(200, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        lead["phone"] = f"{PHONE_PREFIXES[country]} {number}"
    for field, value in (
        ("utm_source", utm_source),
        ("utm_medium", utm_medium),
        ("utm_campaign", utm_campaign),
    ):
        if value:
            lead[field] = value
    consent = rng.random()
    if segment == "unsubscriber" or consent < 0.15:
        lead["consent"] = {"email_marketing": False}
    elif consent < 0.8:
        lead["consent"] = {"email_marketing": True}
    # else: the form did not ask, consent stays unknown
    attributes: dict[str, Any] = {}
    if rng.random() < 0.7:
        attributes["tech_stack"] = sorted(rng.sample(TECH_STACK, rng.randint(1, 4)))
    if segment in ("engaged", "hand_raiser") or rng.random() < 0.2:
        attributes["plan_interest"] = rng.choice(PLANS)
    if attributes:
        lead["attributes"] = attributes
    return lead, segment


def demo_interactions(
    rng: random.Random, lead: dict[str, Any], segment: str, *, now: datetime, days: int
) -> list[dict[str, Any]]:
    """The lead's interaction items, oldest first, each with an external_id stable across runs."""
    starts = _session_starts(rng, segment, now=now, days=days)
    items = []
    for number, start in enumerate(starts):
        events = _first_touch(rng, lead) if number == 0 else []
        events += [(T.PAGE_VIEW, _page_view(rng, rng.choice(PAGES))) for _ in range(_pages(rng, segment))]
        events += _segment_events(rng, segment, number, len(starts))
        occurred_at = start
        for type_, properties in events:
            items.append(
                {
                    "email": lead["email"],
                    "type": str(type_),
                    "occurred_at": occurred_at,
                    "properties": properties,
                    "external_id": f"demo:{lead['email']}:{len(items)}",
                }
            )
            occurred_at += timedelta(seconds=rng.randint(15, 150))
    return items


def _session_starts(rng: random.Random, segment: str, *, now: datetime, days: int) -> list[datetime]:
    """Distinct active days: engaged leads lean recent, dormant ones stopped long ago."""
    count = {
        "casual": rng.randint(1, 3),
        "engaged": rng.randint(3, 8),
        "hand_raiser": rng.randint(4, 9),
        "job_seeker": rng.randint(1, 2),
        "unsubscriber": rng.randint(2, 4),
        "bouncer": rng.randint(1, 2),
        "dormant": rng.randint(1, 3),
        "student": rng.randint(1, 3),
    }[segment]
    # An exponent above 1 pulls the day towards today, below 1 towards the start of the window.
    lean = {"engaged": 2.0, "hand_raiser": 2.5, "dormant": 0.35}.get(segment, 1.0)
    day_numbers: list[int] = []
    for _ in range(count * 5):
        day = min(days - 1, int(days * rng.random() ** lean))
        if day not in day_numbers:
            day_numbers.append(day)
        if len(day_numbers) == count:
            break
    # A session starts at least an hour ago and its events (at most ~20, 150 s apart) fit in
    # that hour, so nothing lands in the future; day < days keeps it inside the window.
    return sorted(now - timedelta(days=day, hours=rng.uniform(1, 23)) for day in day_numbers)


def _pages(rng: random.Random, segment: str) -> int:
    if segment in ("engaged", "hand_raiser"):
        return rng.randint(1, 4)
    if segment in ("job_seeker", "bouncer"):
        return rng.randint(0, 1)
    return rng.randint(1, 3)


def _first_touch(rng: random.Random, lead: dict[str, Any]) -> list[Event]:
    """How the lead arrived, consistent with its source, then the landing page."""
    source, network = lead["source"], lead.get("utm_source", "")
    campaign = lead.get("utm_campaign", "")
    events: list[Event] = []
    if source == "paid_search" or lead.get("utm_medium") == "paid_social":
        events.append((T.AD_CLICK, {"network": network, "campaign": campaign}))
    elif source == "social":
        events.append((T.SOCIAL_ENGAGEMENT, {"network": network, "action": rng.choice(("like", "share"))}))
    elif source == "email":
        events.append((T.EMAIL_CLICK, {"campaign": campaign}))
    elif source == "event":
        events.append((T.FORM_SUBMISSION, {"form": "event-badge-scan", "event": network}))
    elif source == "partner":
        events.append((T.FORM_SUBMISSION, {"form": "partner-referral", "partner": network}))
    landing = f"/?utm_source={network}&utm_medium={lead['utm_medium']}" if network else "/"
    events.append((T.PAGE_VIEW, _page_view(rng, landing)))
    return events


def _segment_events(rng: random.Random, segment: str, number: int, sessions: int) -> list[Event]:
    """What a session adds beyond browsing, by segment; `number` counts the lead's sessions."""
    last = number == sessions - 1
    events: list[Event] = []
    if segment in ("engaged", "hand_raiser"):
        if rng.random() < 0.5:
            events.append((T.PRICING_PAGE_VIEW, _page_view(rng, "/pricing", longer=True)))
        if rng.random() < 0.4:
            # Decision-stage content (case studies, ROI) comes in the second half of a journey.
            asset, stage = rng.choice(ASSETS if number >= sessions // 2 else ASSETS[:4])
            events.append((T.CONTENT_DOWNLOAD, {"asset": asset, "asset_stage": stage}))
        if rng.random() < 0.25:
            webinar = rng.choice(WEBINARS)
            events.append((T.WEBINAR_REGISTRATION, {"webinar": webinar}))
            if rng.random() < 0.6:
                events.append((T.WEBINAR_ATTENDANCE, {"webinar": webinar, "minutes": rng.randint(10, 55)}))
        for _ in range(rng.randint(0, 1)):
            campaign = rng.choice(EMAIL_CAMPAIGNS)
            events.append((T.EMAIL_OPEN, {"campaign": campaign}))
            if rng.random() < 0.4:
                events.append((T.EMAIL_CLICK, {"campaign": campaign}))
        if number == 0 and rng.random() < 0.3:
            events.append((T.NEWSLETTER_SIGNUP, {"list": "newsletter"}))
        if segment == "hand_raiser" and last:
            events.append((T.PRICING_PAGE_VIEW, _page_view(rng, "/pricing", longer=True)))
            if rng.random() < 0.7:
                events.append((T.DEMO_REQUEST, {"form": "book-a-demo", "url": "/demo"}))
            else:
                events.append((T.CONTACT_REQUEST, {"form": "contact-sales", "url": "/contact"}))
            if rng.random() < 0.3:
                events.append((T.TRIAL_SIGNUP, {"plan": rng.choice(PLANS)}))
    elif segment == "casual":
        if rng.random() < 0.3:
            events.append((T.EMAIL_OPEN, {"campaign": rng.choice(EMAIL_CAMPAIGNS)}))
        if rng.random() < 0.08:
            events.append((T.PRICING_PAGE_VIEW, _page_view(rng, "/pricing")))
    elif segment == "job_seeker":
        for url in rng.sample(CAREERS_PAGES, rng.randint(1, 3)):
            events.append((T.PAGE_VIEW, _page_view(rng, url, longer=True)))
    elif segment == "student":
        if rng.random() < 0.5:
            asset, stage = rng.choice(ASSETS[:2])
            events.append((T.CONTENT_DOWNLOAD, {"asset": asset, "asset_stage": stage}))
        if rng.random() < 0.3:
            events.append((T.PAGE_VIEW, _page_view(rng, rng.choice(CAREERS_PAGES))))
        if rng.random() < 0.2:
            events.append((T.WEBINAR_REGISTRATION, {"webinar": rng.choice(WEBINARS)}))
    elif segment == "unsubscriber":
        events.append((T.EMAIL_OPEN, {"campaign": rng.choice(EMAIL_CAMPAIGNS)}))
        if last:
            events.append((T.UNSUBSCRIBE, {"list": "newsletter", "campaign": rng.choice(EMAIL_CAMPAIGNS)}))
    elif segment == "bouncer" and last:
        events.append(
            (T.BOUNCE, {"campaign": rng.choice(EMAIL_CAMPAIGNS), "kind": rng.choice(("hard", "soft"))})
        )
    return events


def _page_view(rng: random.Random, url: str, *, longer: bool = False) -> dict[str, Any]:
    seconds = rng.lognormvariate(math.log(90 if longer else 35), 0.8)
    return {"url": url, "duration_seconds": min(1800, max(2, round(seconds)))}


def _personal_domain(rng: random.Random) -> str:
    return rng.choices(PERSONAL_DOMAINS, [w for _, w in PERSONAL_DOMAINS])[0][0]


def _country(rng: random.Random) -> str:
    return rng.choices(COUNTRIES, [w for _, w, _, _ in COUNTRIES])[0][0]


def _unique_email(rng: random.Random, first: str, last: str, domain: str, used: set[str]) -> str:
    f, l_ = _ascii(first), _ascii(last)
    local = rng.choice((f"{f}.{l_}", f"{f}.{l_}", f"{f[0]}{l_}", f, f"{f}_{l_}"))
    email = f"{local}@{domain}"
    number = 1
    while email in used:
        number += 1
        email = f"{f}.{l_}{number}@{domain}"
    used.add(email)
    return email


def _ascii(name: str) -> str:
    return "".join(c for c in name.lower().replace("ü", "ue") if c.isascii() and c.isalnum())
