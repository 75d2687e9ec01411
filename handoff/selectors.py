"""Reads for the queues and the BANT screen. Each owns its joins: no page grows N+1 queries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from leads.models import Lead
from leads.selectors import lead_search

from .models import QualificationReview, StageChange

QUEUE_SORTS = {
    "score": ("-score", "-id"),
    "fit": ("fit_score", "-score", "-id"),
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
    """MQLs not yet handed off, filtered and sorted for marketing's queue."""
    qs = Lead.objects.filter(stage="mql", handed_off_at__isnull=True).select_related("company")
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


def mql_queue_counts() -> dict[str, int]:
    rows = (
        Lead.objects.filter(stage="mql", handed_off_at__isnull=True)
        .values_list("fit_grade")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = dict(rows)
    counts["all"] = sum(counts.values())
    return counts


def queue_sources() -> list[str]:
    return list(
        Lead.objects.filter(stage="mql", handed_off_at__isnull=True)
        .exclude(source="")
        .values_list("source", flat=True)
        .distinct()
        .order_by("source")[:50]
    )


def sdr_waiting(*, user) -> QuerySet[Lead]:
    return (
        Lead.objects.filter(stage="mql", owner=user, handed_off_at__isnull=False)
        .select_related("company")
        .order_by("sla_due_at", "id")
    )


def sdr_sals(*, user) -> QuerySet[Lead]:
    return (
        Lead.objects.filter(stage="sal", owner=user)
        .select_related("company")
        .order_by("stage_changed_at", "id")
    )


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
    explanation = lead.score_explanation or {}
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
