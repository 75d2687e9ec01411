"""Reads shared by pages and the API. They own the joins so no list runs N+1 queries."""

from django.db.models import Q, QuerySet

from .models import Interaction, Lead


def lead_list() -> QuerySet[Lead]:
    return Lead.objects.select_related("company", "owner")


def lead_search(qs: QuerySet[Lead], q: str) -> QuerySet[Lead]:
    q = q.strip()
    if not q:
        return qs
    if "@" in q:
        return qs.filter(email__startswith=q.lower())
    return qs.filter(
        Q(email__startswith=q.lower())
        | Q(first_name__istartswith=q)
        | Q(last_name__istartswith=q)
        | Q(company__name__istartswith=q)
    )


def lead_interactions(*, lead_id: int) -> QuerySet[Interaction]:
    return Interaction.objects.filter(lead_id=lead_id).order_by("-occurred_at", "-id")
