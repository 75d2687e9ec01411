"""Writes for leads, companies and interactions.

Every upsert here is set-based: one INSERT ... ON CONFLICT per table per batch, in email order so
that concurrent batches take row locks in the same order and cannot deadlock each other.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg2.extras import Json, execute_values

from .enrichment import (
    PERSONAL_EMAIL_DOMAINS,
    department_from_title,
    email_domain,
    seniority_from_title,
)
from .models import ApiKey, Lead
from .signals import leads_changed

# Columns an integration may set on a lead, in the order of the VALUES rows below.
LEAD_TEXT_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "phone",
    "country",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)
COMPANY_FIELDS = ("name", "industry", "employee_count", "annual_revenue", "country")


@dataclass(frozen=True)
class UpsertOutcome:
    lead_id: int
    created: bool


@dataclass(frozen=True)
class InteractionOutcome:
    status: str  # "created" | "duplicate"
    interaction_id: int | None
    lead_id: int
    lead_created: bool = False


@dataclass
class _LeadRow:
    email: str
    values: dict[str, Any] = field(default_factory=dict)
    company_key: str | None = None


def _announce(lead_ids: Iterable[int]) -> None:
    ids = sorted(set(lead_ids))
    if ids:
        transaction.on_commit(lambda: leads_changed.send(sender=Lead, lead_ids=ids))


def _company_key(item: Mapping[str, Any], email: str) -> tuple[str | None, dict[str, Any]]:
    """Which company a lead belongs to: its given domain, else its work e-mail's domain."""
    company = dict(item.get("company") or {})
    domain = (company.pop("domain", None) or "").strip().lower() or None
    if domain is None:
        from_email = email_domain(email)
        if from_email and from_email not in PERSONAL_EMAIL_DOMAINS:
            domain = from_email
    return domain, company


def _upsert_companies(companies: dict[str, dict[str, Any]], now: datetime) -> dict[str, int]:
    """INSERT the new domains, then fill in what this batch provides. Returns domain -> id."""
    if not companies:
        return {}
    domains = sorted(companies)
    with connection.cursor() as cursor:
        execute_values(
            cursor.cursor,
            "INSERT INTO leads_company (domain, name, industry, employee_count, annual_revenue,"
            " country, created_at, updated_at) VALUES %s ON CONFLICT (domain) DO NOTHING",
            [
                (
                    d,
                    companies[d].get("name") or d,
                    companies[d].get("industry") or "",
                    companies[d].get("employee_count"),
                    companies[d].get("annual_revenue"),
                    companies[d].get("country") or "",
                    now,
                    now,
                )
                for d in domains
            ],
            page_size=1000,
        )
        provided = [d for d in domains if companies[d]]
        if provided:
            # NULL in v.* means "not provided": existing data is kept, never blanked.
            execute_values(
                cursor.cursor,
                "UPDATE leads_company c SET name = COALESCE(v.name, c.name),"
                " industry = COALESCE(v.industry, c.industry),"
                " employee_count = COALESCE(v.employee_count::integer, c.employee_count),"
                " annual_revenue = COALESCE(v.annual_revenue::bigint, c.annual_revenue),"
                " country = COALESCE(v.country, c.country), updated_at = v.updated_at::timestamptz"
                " FROM (VALUES %s) AS v(domain, name, industry, employee_count, annual_revenue,"
                " country, updated_at) WHERE c.domain = v.domain",
                [(d, *(companies[d].get(f) for f in COMPANY_FIELDS), now) for d in provided],
                page_size=1000,
            )
        cursor.execute("SELECT domain, id FROM leads_company WHERE domain = ANY(%s)", [domains])
        return dict(cursor.fetchall())


def _prepare(item: Mapping[str, Any]) -> _LeadRow:
    email = item["email"].strip().lower()
    values: dict[str, Any] = {f: item[f] for f in LEAD_TEXT_FIELDS if f in item and item[f] is not None}
    if "country" in values:
        values["country"] = values["country"].upper()
    if "job_title" in values:
        values["seniority"] = seniority_from_title(values["job_title"])
        values["department"] = department_from_title(values["job_title"])
    consent = item.get("consent") or {}
    if consent.get("email_marketing") is not None:
        values["consent_email_marketing"] = consent["email_marketing"]
    if item.get("attributes"):
        values["attributes"] = dict(item["attributes"])
    return _LeadRow(email=email, values=values)


def _merge_duplicates(rows: Sequence[_LeadRow]) -> dict[str, _LeadRow]:
    """A batch may name one e-mail twice; later items win, attributes merge (HubSpot's rule)."""
    merged: dict[str, _LeadRow] = {}
    for row in rows:
        seen = merged.get(row.email)
        if seen is None:
            merged[row.email] = _LeadRow(row.email, dict(row.values), row.company_key)
            continue
        attributes = {**seen.values.get("attributes", {}), **row.values.get("attributes", {})}
        seen.values.update(row.values)
        if attributes:
            seen.values["attributes"] = attributes
        seen.company_key = row.company_key or seen.company_key
    return merged


_UPDATABLE = (*LEAD_TEXT_FIELDS, "seniority", "department")
_INSERT_COLUMNS = (
    "email",
    *LEAD_TEXT_FIELDS,
    "seniority",
    "department",
    "company_id",
    "consent_email_marketing",
    "attributes",
    "stage",
    "fit_score",
    "fit_grade",
    "engagement_score",
    "score",
    "score_explanation",
    "needs_rescore",
    "created_at",
    "updated_at",
)


def _new_lead_row(email: str, values: Mapping[str, Any], company_id: int | None, now: datetime) -> tuple:
    """A new lead's row: what the item carries, and the defaults of a lead nobody has scored yet."""
    return (
        email,
        *(values.get(f, "") for f in LEAD_TEXT_FIELDS),
        values.get("seniority", "unknown"),
        values.get("department", ""),
        company_id,
        values.get("consent_email_marketing"),
        Json(values.get("attributes", {})),
        "lead",
        0,
        "D",
        0,
        0,
        Json({}),
        True,
        now,
        now,
    )


def _insert_new_leads(cursor, rows: list[tuple]) -> list[tuple[str, int]]:
    """INSERT ... ON CONFLICT (email) DO NOTHING: returns (email, id) of the rows that are new."""
    return execute_values(
        cursor.cursor,
        f"INSERT INTO leads_lead ({', '.join(_INSERT_COLUMNS)}) VALUES %s"
        " ON CONFLICT (email) DO NOTHING RETURNING email, id",
        rows,
        page_size=1000,
        fetch=True,
    )


def _insert_and_update_leads(
    rows: dict[str, _LeadRow], company_ids: dict[str, int], now: datetime
) -> dict[str, UpsertOutcome]:
    emails = sorted(rows)
    with connection.cursor() as cursor:
        inserted = _insert_new_leads(
            cursor,
            [
                _new_lead_row(
                    e,
                    rows[e].values,
                    company_ids.get(rows[e].company_key) if rows[e].company_key else None,
                    now,
                )
                for e in emails
            ],
        )
        created = dict(inserted)
        existing = [e for e in emails if e not in created]
        updated: dict[str, int] = {}
        if existing:
            # Only what the item carries is written; attributes merge key by key.
            result = execute_values(
                cursor.cursor,
                "UPDATE leads_lead l SET "
                + ", ".join(f"{f} = COALESCE(v.{f}, l.{f})" for f in _UPDATABLE)
                + ", company_id = COALESCE(v.company_id::bigint, l.company_id),"
                " consent_email_marketing = COALESCE(v.consent::boolean, l.consent_email_marketing),"
                " attributes = l.attributes || COALESCE(v.attributes::jsonb, '{}'::jsonb),"
                " needs_rescore = true, updated_at = v.updated_at::timestamptz"
                " FROM (VALUES %s) AS v(email, "
                + ", ".join(_UPDATABLE)
                + ", company_id, consent, attributes, updated_at)"
                " WHERE l.email = v.email RETURNING l.email, l.id",
                [
                    (
                        e,
                        *(rows[e].values.get(f) for f in _UPDATABLE),
                        company_ids.get(rows[e].company_key) if rows[e].company_key else None,
                        rows[e].values.get("consent_email_marketing"),
                        Json(rows[e].values["attributes"]) if "attributes" in rows[e].values else None,
                        now,
                    )
                    for e in existing
                ],
                page_size=1000,
                fetch=True,
            )
            updated = dict(result)
    outcomes = {e: UpsertOutcome(i, True) for e, i in created.items()}
    outcomes.update({e: UpsertOutcome(i, False) for e, i in updated.items()})
    return outcomes


@transaction.atomic
def leads_upsert(*, items: Sequence[Mapping[str, Any]]) -> list[UpsertOutcome]:
    """Create or update leads by e-mail (case-insensitive), one outcome per item, in order.

    Invariant: after it returns, each e-mail exists exactly once, whatever ran concurrently; only
    the fields an item carries are written; every touched lead is marked for rescoring.
    Items must already be validated (see leads/api/serializers.py).
    """
    now = timezone.now()
    prepared = []
    companies: dict[str, dict[str, Any]] = {}
    for item in items:
        row = _prepare(item)
        domain, company = _company_key(item, row.email)
        row.company_key = domain
        if domain:
            merged = companies.setdefault(domain, {})
            merged.update({k: v for k, v in company.items() if v not in (None, "")})
        prepared.append(row)
    company_ids = _upsert_companies(companies, now)
    outcomes = _insert_and_update_leads(_merge_duplicates(prepared), company_ids, now)
    _announce(o.lead_id for o in outcomes.values())
    # The first item naming an e-mail reports "created"; a repeat in the same batch is an update.
    results: list[UpsertOutcome] = []
    reported: set[str] = set()
    for row in prepared:
        outcome = outcomes[row.email]
        results.append(outcome if row.email not in reported else UpsertOutcome(outcome.lead_id, False))
        reported.add(row.email)
    return results


def lead_upsert(*, data: Mapping[str, Any]) -> UpsertOutcome:
    """One lead: the batch path with one item, so both share every rule."""
    return leads_upsert(items=[data])[0]


def _ensure_leads_by_email(emails: Sequence[str], now: datetime) -> tuple[dict[str, int], set[str]]:
    """Leads named only by e-mail in an event: insert the unknown ones, touch nothing else."""
    with connection.cursor() as cursor:
        inserted = _insert_new_leads(cursor, [_new_lead_row(e, {}, None, now) for e in emails])
        cursor.execute("SELECT email, id FROM leads_lead WHERE email = ANY(%s)", [list(emails)])
        return dict(cursor.fetchall()), {e for e, _ in inserted}


@transaction.atomic
def interactions_record(*, items: Sequence[Mapping[str, Any]], source: str = "") -> list[InteractionOutcome]:
    """Store interactions, one outcome per item, in order.

    Invariant: an event with an external_id is stored at most once per source, however often and
    however concurrently it is sent; the lead it names exists afterwards (created from the e-mail
    when new); leads with new events are marked for rescoring.
    Items are validated; `lead_id` items must name existing leads (the serializer checks).
    """
    now = timezone.now()
    emails = sorted({item["email"].strip().lower() for item in items if item.get("email")})
    by_email, new_leads = _ensure_leads_by_email(emails, now) if emails else ({}, set())

    rows = []
    for item in items:
        email = item["email"].strip().lower() if item.get("email") else None
        lead_id = by_email[email] if email else item["lead_id"]
        rows.append(
            (
                lead_id,
                item["type"],
                item["occurred_at"],
                item.get("properties") or {},
                item.get("source") or source,
                item.get("external_id") or None,
                email in new_leads if email else False,
            )
        )

    outcomes: list[InteractionOutcome | None] = [None] * len(rows)
    keyed: dict[tuple[str, str], int] = {}
    plain: list[int] = []
    for index, row in enumerate(rows):
        if row[5] is None:
            plain.append(index)
        elif (row[4], row[5]) in keyed:
            outcomes[index] = InteractionOutcome("duplicate", None, row[0], row[6])
        else:
            keyed[(row[4], row[5])] = index

    template = "(%s, %s, %s, %s, %s, %s, %s)"
    with connection.cursor() as cursor:
        if keyed:
            order = sorted(keyed)
            inserted = execute_values(
                cursor.cursor,
                "INSERT INTO leads_interaction (lead_id, type, occurred_at, properties, source,"
                " external_id, received_at) VALUES %s ON CONFLICT (source, external_id)"
                " WHERE external_id IS NOT NULL DO NOTHING RETURNING source, external_id, id",
                [_interaction_values(rows[keyed[k]], now) for k in order],
                template=template,
                page_size=1000,
                fetch=True,
            )
            new_ids = {(s, x): i for s, x, i in inserted}
            missing = [k for k in order if k not in new_ids]
            if missing:
                cursor.execute(
                    "SELECT source, external_id, id FROM leads_interaction"
                    " WHERE (source, external_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                    [[s for s, _ in missing], [x for _, x in missing]],
                )
                existing_ids = {(s, x): i for s, x, i in cursor.fetchall()}
            else:
                existing_ids = {}
            for k, index in keyed.items():
                row = rows[index]
                if k in new_ids:
                    outcomes[index] = InteractionOutcome("created", new_ids[k], row[0], row[6])
                else:
                    outcomes[index] = InteractionOutcome("duplicate", existing_ids.get(k), row[0], row[6])
        if plain:
            inserted = execute_values(
                cursor.cursor,
                "INSERT INTO leads_interaction (lead_id, type, occurred_at, properties, source,"
                " external_id, received_at) VALUES %s RETURNING id",
                [_interaction_values(rows[i], now) for i in plain],
                template=template,
                page_size=1000,
                fetch=True,
            )
            for index, (new_id,) in zip(plain, inserted, strict=True):
                row = rows[index]
                outcomes[index] = InteractionOutcome("created", new_id, row[0], row[6])

        touched = sorted({o.lead_id for o in outcomes if o is not None and o.status == "created"})
        if touched:
            # Lock the leads that are already marked. A scorer holding one has read its
            # interactions without these (they are not committed yet) and is about to clear the
            # mark: wait for it, so the mark is set again after it. Without the lock, "already
            # marked, nothing to do" would let that scorer clear a mark these still need. (The
            # UPDATE below locks the unmarked ones itself, and re-reads them after a scorer.)
            cursor.execute(
                "SELECT 1 FROM leads_lead WHERE id = ANY(%s) AND needs_rescore ORDER BY id FOR NO KEY UPDATE",
                [touched],
            )
            cursor.execute(
                "UPDATE leads_lead SET needs_rescore = true WHERE id = ANY(%s) AND NOT needs_rescore",
                [touched],
            )
    _announce(touched)
    return [o for o in outcomes if o is not None]


def _interaction_values(row: tuple, now: datetime) -> tuple:
    lead_id, type_, occurred_at, properties, source, external_id, _ = row
    return (lead_id, type_, occurred_at, Json(properties), source, external_id, now)


API_KEY_PREFIX = "lq"


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create an integration key. Returns the row and the secret, which is never stored."""
    prefix = secrets.token_hex(4)
    secret = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name, prefix=prefix, hashed_key=hash_api_key(secret), created_by=created_by
    )
    return key, secret


def api_key_revoke(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
