"""CSV export of a filtered lead list: the API's filters, streamed in constant memory.

The filter set is the API's LeadFilter (so `/leads/export.csv?stage=sql&fit_grade=A` lists exactly
what `GET /api/v1/leads/?stage=sql&fit_grade=A` pages through), plus `handed_off` so the MQL
queue's export equals the queue, and the queue's `sort` names as an alternative to `ordering`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import django_filters
from django.db.models import QuerySet

from handoff.selectors import QUEUE_SORTS
from leads.api.filters import LeadFilter
from leads.api.views import LeadPagination
from leads.models import Lead
from leads.selectors import lead_list

from .parsing import spreadsheet_safe

ITERATOR_CHUNK = 2_000
ROWS_PER_WRITE = 500
# Excel opens UTF-8 CSV correctly only with a byte-order mark; our importer (utf-8-sig) and most
# tools skip it.
BOM = "\ufeff"


def _company(attr):
    return lambda lead: getattr(lead.company, attr) if lead.company_id else ""


# Headers match the importer's automatic mapping, so an export re-imports without a mapping step.
COLUMNS = (
    ("id", lambda lead: lead.pk),
    ("email", lambda lead: lead.email),
    ("first_name", lambda lead: lead.first_name),
    ("last_name", lambda lead: lead.last_name),
    ("job_title", lambda lead: lead.job_title),
    ("seniority", lambda lead: lead.seniority),
    ("country", lambda lead: lead.country),
    ("company_name", _company("name")),
    ("company_domain", lambda lead: (lead.company.domain or "") if lead.company_id else ""),
    ("company_industry", _company("industry")),
    ("company_employee_count", lambda lead: _blank(lead.company.employee_count) if lead.company_id else ""),
    ("company_annual_revenue", lambda lead: _blank(lead.company.annual_revenue) if lead.company_id else ""),
    ("source", lambda lead: lead.source),
    ("utm_source", lambda lead: lead.utm_source),
    ("utm_medium", lambda lead: lead.utm_medium),
    ("utm_campaign", lambda lead: lead.utm_campaign),
    ("stage", lambda lead: lead.stage),
    ("owner", lambda lead: lead.owner.username if lead.owner_id else ""),
    ("fit_score", lambda lead: lead.fit_score),
    ("fit_grade", lambda lead: lead.fit_grade),
    ("engagement_score", lambda lead: lead.engagement_score),
    ("score", lambda lead: lead.score),
    ("conversion_probability", lambda lead: _blank(lead.conversion_probability)),
    ("created_at", lambda lead: lead.created_at.isoformat()),
)


def _blank(value):
    return "" if value is None else value


class ExportLeadFilter(LeadFilter):
    handed_off = django_filters.BooleanFilter(method="filter_handed_off", label="Handed off to an SDR")

    def filter_handed_off(self, queryset: QuerySet[Lead], name: str, value: bool) -> QuerySet[Lead]:
        return queryset.filter(handed_off_at__isnull=not value)


def export_queryset(params) -> tuple[QuerySet[Lead] | None, dict[str, list[str]]]:
    """The filtered, ordered leads for these query parameters, or the errors that prevent it."""
    filterset = ExportLeadFilter(params, queryset=lead_list())
    if not filterset.is_valid():
        return None, {k: [str(m) for m in v] for k, v in filterset.errors.items()}
    ordering = params.get("ordering")
    if ordering:
        if ordering.lstrip("-") not in LeadPagination.ordering_fields:
            allowed = ", ".join(LeadPagination.ordering_fields)
            return None, {"ordering": [f"Choose one of: {allowed} (prefix - for descending)."]}
        order = (ordering, "-id" if ordering.startswith("-") else "id")
    elif params.get("sort") in QUEUE_SORTS:
        order = QUEUE_SORTS[params["sort"]]
    else:
        order = (LeadPagination.default_ordering, "-id")
    return filterset.qs.order_by(*order), {}


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_lines(leads: QuerySet[Lead]) -> Iterator[str]:
    """The CSV text in pieces of ROWS_PER_WRITE rows; the query runs on a server-side cursor."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow([name for name, _ in COLUMNS])
    batch = []
    for lead in leads.iterator(chunk_size=ITERATOR_CHUNK):
        batch.append(writer.writerow([spreadsheet_safe(get(lead)) for _, get in COLUMNS]))
        if len(batch) >= ROWS_PER_WRITE:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)
