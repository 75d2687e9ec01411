"""Deterministic, realistic-looking test data for the ingestion benchmark.

Everything here is plain Python (no Django): the bench process only talks HTTP and raw SQL.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, datetime, timedelta

FIRST_NAMES = (
    "Anna Ben Chloe David Emma Felix Grace Hugo Ines Jonas Kira Liam Maya Noah Olivia Paul "
    "Quinn Rosa Sam Tara Uma Victor Wendy Xavier Yara Zoe Amir Bea Carlos Dana Elif Farah "
    "Goran Hana Ivan Jana Kenji Lena Mateo Nina Omar Priya Rafael Sofia Tomas Ulla Vera Wei"
).split()
LAST_NAMES = (
    "Smith Müller García Rossi Dubois Kowalski Nielsen Jansen Silva Novak Tanaka Kim Singh "
    "Okafor Hughes Berg Fischer Moreau Costa Ivanova Larsen Patel Nguyen Schmidt Weber Meyer "
    "Wagner Becker Hoffmann Schulz Koch Richter Klein Wolf Lopez Martin Bernard Petit Brown"
).split()
JOB_TITLES = (
    "Chief Executive Officer",
    "CTO",
    "VP of Marketing",
    "Vice President, Sales",
    "Head of Growth",
    "Director of Engineering",
    "IT Director",
    "Marketing Manager",
    "Demand Gen Manager",
    "Sales Development Representative",
    "Account Executive",
    "Senior Software Engineer",
    "DevOps Engineer",
    "Product Manager",
    "Head of People",
    "Procurement Lead",
    "Finance Controller",
    "Operations Analyst",
    "Founder",
    "Marketing Intern",
    "Data Analyst",
    "Customer Success Manager",
    "Solutions Architect",
    "Content Strategist",
)
INDUSTRIES = (
    "software",
    "saas",
    "fintech",
    "healthcare",
    "manufacturing",
    "retail",
    "logistics",
    "education",
    "media",
    "telecom",
    "energy",
    "consulting",
    "insurance",
    "real_estate",
)
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "SE", "ES", "IT", "CA", "AU", "IN", "BR", "JP", "PL")
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
PERSONAL = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com")
WORDS = (
    "acme globex initech umbrella stark wayne hooli vandelay soylent cyberdyne wonka tyrell "
    "oscorp aperture massive blue north river summit pixel quantum bright nimbus vertex orbit "
    "delta lumen cobalt granite harbor atlas beacon cedar ember falcon"
).split()
TLDS = ("com", "io", "de", "co.uk", "fr", "net", "ai", "nl")
PAGES = (
    "/",
    "/pricing",
    "/product",
    "/product/scoring",
    "/product/routing",
    "/blog/icp-guide",
    "/blog/mql-vs-sql",
    "/customers",
    "/docs/api",
    "/careers",
    "/demo",
    "/integrations",
)
# Roughly what a B2B marketing stack sends: mostly page views and e-mail events.
INTERACTION_MIX = (
    ("page_view", 45),
    ("pricing_page_view", 6),
    ("email_open", 18),
    ("email_click", 8),
    ("content_download", 5),
    ("ad_click", 5),
    ("webinar_registration", 2),
    ("webinar_attendance", 1),
    ("form_submission", 3),
    ("newsletter_signup", 1),
    ("social_engagement", 3),
    ("demo_request", 1),
    ("trial_signup", 1),
    ("bounce", 1),
)


def company(rng: random.Random, i: int) -> dict:
    a, b = rng.choice(WORDS), rng.choice(WORDS)
    return {
        "name": f"{a.title()} {b.title()} {rng.choice(('Inc', 'GmbH', 'Ltd', 'SA', 'BV', 'Labs'))}",
        "domain": f"{a}{b}{i}.{rng.choice(TLDS)}",
        "industry": rng.choice(INDUSTRIES),
        "employee_count": int(min(200_000, rng.lognormvariate(4.5, 1.6))) + 1,
        "annual_revenue": rng.choice((None, rng.randrange(100_000, 5_000_000_000))),
        "country": rng.choice(COUNTRIES),
    }


def lead_item(rng: random.Random, local: str, comp: dict, *, personal_share: float = 0.15) -> dict:
    """One API lead item. `local` makes the e-mail unique; `comp` is its company."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    user = _ascii(f"{first}.{last}.{local}")
    if rng.random() < personal_share:
        email = f"{user}@{rng.choice(PERSONAL)}"
    else:
        email = f"{user}@{comp['domain']}"
    item = {
        "email": email,
        "first_name": first,
        "last_name": last,
        "job_title": rng.choice(JOB_TITLES),
        "phone": f"+{rng.randrange(1, 99)} {rng.randrange(100, 999)} {rng.randrange(1000000, 9999999)}",
        "country": comp["country"],
        "company": {
            "name": comp["name"],
            "domain": comp["domain"],
            "industry": comp["industry"],
            "employee_count": comp["employee_count"],
        },
        "source": rng.choice(SOURCES),
        "utm_source": rng.choice(UTM_SOURCES),
        "utm_medium": rng.choice(UTM_MEDIUMS),
        "utm_campaign": rng.choice(CAMPAIGNS),
        "consent": {"email_marketing": rng.random() < 0.7},
        "attributes": {
            "form": rng.choice(("contact", "ebook", "webinar", "trial", "newsletter")),
            "product_interest": rng.sample(("scoring", "routing", "analytics", "api"), 2),
            "crm_id": f"crm-{local}",
            "visits": rng.randrange(1, 40),
        },
    }
    if comp.get("annual_revenue") is not None and rng.random() < 0.3:
        item["company"]["annual_revenue"] = comp["annual_revenue"]
    return item


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def lead_update(rng: random.Random, item: dict) -> dict:
    """A second sighting of the same person: new title, campaign and attributes, same company."""
    return {
        "email": item["email"],
        "job_title": rng.choice(JOB_TITLES),
        "utm_source": rng.choice(UTM_SOURCES),
        "utm_medium": rng.choice(UTM_MEDIUMS),
        "utm_campaign": rng.choice(CAMPAIGNS),
        "company": dict(item["company"], employee_count=item["company"]["employee_count"] + 1),
        "attributes": {"visits": item["attributes"]["visits"] + 1, "last_form": "pricing"},
    }


def _weighted(mix):
    types, weights = zip(*mix, strict=True)
    cum, total = [], 0
    for w in weights:
        total += w
        cum.append(total)
    return types, cum, total


_TYPES, _CUM, _TOTAL = _weighted(INTERACTION_MIX)


def interaction_item(rng: random.Random, email: str, ext_id: str, now: datetime) -> dict:
    type_ = rng.choices(_TYPES, cum_weights=_CUM, k=1)[0]
    occurred = now - timedelta(seconds=rng.randrange(0, 90 * 86400))
    if type_ in ("page_view", "pricing_page_view"):
        page = "/pricing" if type_ == "pricing_page_view" else rng.choice(PAGES)
        props = {
            "url": f"https://www.leadqual.example{page}?utm_source={rng.choice(UTM_SOURCES)}",
            "duration_seconds": rng.randrange(1, 600),
            "referrer": rng.choice(("https://www.google.com/", "https://www.linkedin.com/", "")),
        }
    elif type_.startswith("email_"):
        props = {"campaign": rng.choice(CAMPAIGNS), "message_id": f"m-{rng.randrange(10**9)}"}
    elif type_ == "content_download":
        props = {"asset": rng.choice(("icp-ebook.pdf", "roi-calculator.xlsx", "case-study.pdf"))}
    elif type_ == "ad_click":
        props = {"campaign": rng.choice(CAMPAIGNS), "network": rng.choice(UTM_SOURCES)}
    else:
        props = {"form": rng.choice(("contact", "demo", "webinar", "trial"))}
    return {
        "email": email,
        "type": type_,
        "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "properties": props,
        "external_id": ext_id,
    }


def utcnow() -> datetime:
    return datetime.now(UTC)
