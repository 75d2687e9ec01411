"""Derive seniority and department from a free-text job title.

Pure functions: the ingestion path calls them for every lead, so they are plain keyword scans.
Order matters: "Vice President of Engineering Intern" is an intern, "Chief of Staff" is not C-level
in a buying sense but is senior enough that marketing treats it as one (as HubSpot's default does).
"""

import re

_SENIORITY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("student", ("student", "intern", "trainee", "apprentice", "phd candidate")),
    (
        "c_level",
        (
            "chief",
            "ceo",
            "cto",
            "cfo",
            "coo",
            "cmo",
            "cio",
            "ciso",
            "cro",
            "founder",
            "owner",
            "president",
            "partner",
            "managing director",
        ),
    ),
    ("vp", ("vp", "vice president", "svp", "evp", "head of", "head,")),
    ("director", ("director",)),
    ("manager", ("manager", "lead", "supervisor", "principal")),
)

_DEPARTMENT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "engineering",
        ("engineer", "developer", "cto", "software", "devops", "architect", "technology"),
    ),
    ("it", ("it ", " it", "information", "cio", "ciso", "security", "systems", "infrastructure")),
    ("marketing", ("marketing", "cmo", "growth", "demand gen", "brand", "content")),
    (
        "sales",
        ("sales", "account executive", "business development", "cro", "revenue", "sdr", "bdr"),
    ),
    ("finance", ("finance", "cfo", "controller", "accounting", "procurement", "purchasing")),
    ("operations", ("operations", "coo", "ops", "supply chain", "logistics")),
    ("hr", ("hr", "human resources", "people", "talent", "recruit")),
    ("product", ("product",)),
    ("executive", ("ceo", "founder", "owner", "president", "managing director")),
)

_WORD_BOUNDARY_CACHE: dict[str, re.Pattern[str]] = {}


def _contains(title: str, keyword: str) -> bool:
    # Short acronyms (cto, vp, it) must match whole words: "director" contains "cto".
    if len(keyword.strip()) <= 4:
        pattern = _WORD_BOUNDARY_CACHE.get(keyword)
        if pattern is None:
            pattern = re.compile(rf"\b{re.escape(keyword.strip())}\b")
            _WORD_BOUNDARY_CACHE[keyword] = pattern
        return pattern.search(title) is not None
    return keyword in title


def seniority_from_title(title: str) -> str:
    t = (title or "").lower()
    if not t.strip():
        return "unknown"
    for seniority, keywords in _SENIORITY_RULES:
        if any(_contains(t, k) for k in keywords):
            return seniority
    return "individual"


def department_from_title(title: str) -> str:
    t = f" {(title or '').lower()} "
    for department, keywords in _DEPARTMENT_RULES:
        if any(_contains(t, k) for k in keywords):
            return department
    return ""


PERSONAL_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "web.de",
    }
)


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower() if "@" in email else ""
