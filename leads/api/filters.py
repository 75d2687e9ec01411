import django_filters
from django.db.models import QuerySet

from leads.models import Lead
from leads.selectors import lead_search
from leads.vocabulary import FitGrade, Stage


class LeadFilter(django_filters.FilterSet):
    # Plain columns, no join: no duplicates to remove (django-filter adds DISTINCT by default).
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    fit_grade = django_filters.MultipleChoiceFilter(choices=FitGrade.choices, distinct=False)
    min_score = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    max_score = django_filters.NumberFilter(field_name="score", lookup_expr="lte")
    min_probability = django_filters.NumberFilter(
        field_name="conversion_probability",
        lookup_expr="gte",
        label="Minimum predicted chance to convert (0-1)",
    )
    source = django_filters.CharFilter(field_name="source")
    owner = django_filters.CharFilter(field_name="owner__username")
    q = django_filters.CharFilter(method="search", label="Search e-mail, name or company")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="lt")

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        return lead_search(queryset, value)
