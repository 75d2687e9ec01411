"""Reads shared by pages and the API. They own the joins so no list runs N+1 queries."""

from django.db.models import BooleanField, F, Func, Q, QuerySet, Subquery

from .models import Company, Interaction, Lead


def lead_list() -> QuerySet[Lead]:
    return Lead.objects.select_related("company", "owner")


class _EqualsAnyOf(Func):
    """``lhs = ANY(ARRAY(subquery))``: PostgreSQL runs the subquery first (an InitPlan), so the
    comparison can use lhs's index, which ``lhs IN (subquery)`` inside an OR cannot."""

    arg_joiner = " = ANY(ARRAY"
    template = "%(expressions)s)"
    output_field = BooleanField()


def lead_search(qs: QuerySet[Lead], q: str) -> QuerySet[Lead]:
    q = q.strip()
    if not q:
        return qs
    if "@" in q:
        return qs.filter(email__startswith=q.lower())
    # company_id = ANY(ARRAY(companies)) rather than a join or IN (subquery): the matching
    # companies come first from their own prefix index, and every branch of the OR is then an
    # index scan (a search that matches nothing reads no lead rows).
    companies = Company.objects.filter(name__istartswith=q).values("id")
    at_company = _EqualsAnyOf(F("company_id"), Subquery(companies))
    return qs.filter(
        Q(email__startswith=q.lower())
        | Q(first_name__istartswith=q)
        | Q(last_name__istartswith=q)
        | Q(at_company)
    )


def lead_interactions(*, lead_id: int) -> QuerySet[Interaction]:
    return Interaction.objects.filter(lead_id=lead_id).order_by("-occurred_at", "-id")
