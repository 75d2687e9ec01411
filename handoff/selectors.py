"""Reads for the queues and the BANT screen. Each owns its joins: no page grows N+1 queries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from leads.models import MQL_QUEUE, Lead
from leads.selectors import lead_search
from scoring.selectors import lead_explanation

from .models import QualificationReview, StageChange

QUEUE_SORTS = {
    "score": ("-score", "-id"),
    "fit": ("-fit_score", "-score", "-id"),
    "engagement": ("-engagement_score", "-id"),
    "age": ("stage_changed_at", "id"),
    "newest": ("-stage_changed_at", "-id"),
    "source": ("source", "-score", "-id"),
    "probability": (F("conversion_probability").desc(nulls_last=True), "-score", "-id"),
}


@dataclass(frozen=True)
class QueueFilters:
    q: str = ""
    fit_grade: tuple[str, ...] = ()
    source: str = ""
    min_score: int | None = None
    min_probability: float | None = None  # 0..1
    sort: str = "score"


def mql_queue(*, filters: QueueFilters) -> QuerySet[Lead]:
    """MQLs not yet handed off, filtered and sorted for marketing's queue.

    Every sort has a partial index over the queue (leads/models.py), so a page reads its rows
    from the index instead of sorting the whole queue."""
    qs = Lead.objects.filter(MQL_QUEUE)
    if filters.fit_grade:
        qs = qs.filter(fit_grade__in=filters.fit_grade)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.min_score is not None:
        qs = qs.filter(score__gte=filters.min_score)
    if filters.min_probability is not None:
        qs = qs.filter(conversion_probability__gte=filters.min_probability)
    qs = lead_search(qs, filters.q)
    return qs.order_by(*QUEUE_SORTS.get(filters.sort, QUEUE_SORTS["score"]))


def queue_page(qs: QuerySet[Lead], *, page: int, size: int) -> tuple[list[Lead], bool]:
    """One page of a sorted lead list, and whether another follows.

    A deferred join: the page's ids come from the sort's index alone (an offset there skips index
    entries, not whole ~3 KB rows), then only those rows are read with their companies."""
    ids = list(qs.values_list("id", flat=True)[(page - 1) * size : page * size + 1])
    rows = Lead.objects.select_related("company").in_bulk(ids[:size])
    return [rows[i] for i in ids[:size] if i in rows], len(ids) > size


@dataclass(frozen=True)
class QueueFacets:
    counts: dict[str, int]  # per fit grade, and "all"
    sources: list[str]


def mql_queue_facets(source_limit: int = 50) -> QueueFacets:
    """Counts per fit grade and the sources in the queue, from one index-only scan."""
    rows = (
        Lead.objects.filter(MQL_QUEUE).values_list("fit_grade", "source").annotate(n=Count("id")).order_by()
    )
    counts: dict[str, int] = {"all": 0}
    sources: set[str] = set()
    for grade, source, n in rows:
        counts[grade] = counts.get(grade, 0) + n
        counts["all"] += n
        if source:
            sources.add(source)
    return QueueFacets(counts=counts, sources=sorted(sources)[:source_limit])


def sdr_waiting(*, user) -> QuerySet[Lead]:
    """Leads handed to this SDR and not yet accepted or rejected, most urgent first."""
    return Lead.objects.filter(stage="mql", owner=user, handed_off_at__isnull=False).order_by(
        "sla_due_at", "id"
    )


def sdr_sals(*, user) -> QuerySet[Lead]:
    """This SDR's accepted leads waiting for a qualification call, oldest first."""
    return Lead.objects.filter(stage="sal", owner=user).order_by("stage_changed_at", "id")


@dataclass(frozen=True)
class InboxCounts:
    waiting: int
    overdue: int
    sals: int


def sdr_inbox_counts(*, user, now) -> InboxCounts:
    """The inbox's totals in one query, whatever page of it is shown."""
    mine = Q(owner=user)
    waiting = Q(stage="mql", handed_off_at__isnull=False)
    row = Lead.objects.filter(mine, waiting | Q(stage="sal")).aggregate(
        waiting=Count("id", filter=waiting),
        overdue=Count("id", filter=waiting & Q(sla_due_at__lt=now)),
        sals=Count("id", filter=Q(stage="sal")),
    )
    return InboxCounts(**row)


def overdue_handoffs(*, user=None) -> QuerySet[Lead]:
    qs = Lead.objects.filter(stage="mql", handed_off_at__isnull=False, sla_due_at__lt=timezone.now())
    return qs.filter(owner=user) if user is not None else qs


def reviews_for(*, lead_id: int) -> QuerySet[QualificationReview]:
    return (
        QualificationReview.objects.filter(lead_id=lead_id)
        .select_related("reviewer")
        .order_by("-created_at", "-id")
    )


def stage_history(*, lead_id: int) -> QuerySet[StageChange]:
    return (
        StageChange.objects.filter(lead_id=lead_id)
        .select_related("actor", "owner")
        .order_by("-created_at", "-id")
    )


def top_reasons(lead: Lead, limit: int = 3) -> list[str]:
    """Why this lead is an MQL, in the model's own words, from the stored explanation."""
    explanation = lead_explanation(lead.score_explanation)
    reasons = []
    if explanation.get("mql_reason") == "fast_lane":
        reasons.append("Raised a hand (demo or contact request)")
    rules = sorted(
        (r for r in (explanation.get("engagement") or {}).get("rules", []) if r.get("points", 0) > 0),
        key=lambda r: -r["points"],
    )
    reasons += [f"{r['label']} (+{r['points']:g})" for r in rules[: limit - len(reasons)]]
    grade = (explanation.get("fit") or {}).get("grade")
    if grade:
        reasons.append(f"Fit grade {grade}")
    return reasons


def open_load_by_sdr() -> dict[int, int]:
    open_q = Q(stage="sal") | Q(stage="mql", handed_off_at__isnull=False)
    return dict(
        Lead.objects.filter(open_q, owner__isnull=False)
        .values_list("owner")
        .annotate(n=Count("id"))
        .order_by()
    )
