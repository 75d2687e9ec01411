from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from .api.permissions import user_roles
from .models import Lead


@login_required
def home(request):
    """What needs me now: queue counts, overdue hand-offs, the newest MQLs, by role."""
    roles = user_roles(request.user)
    now = timezone.now()
    handed_off = Q(stage="mql", handed_off_at__isnull=False)
    team = Lead.objects.aggregate(
        mql_waiting=Count("id", filter=Q(stage="mql", handed_off_at__isnull=True)),
        handed_off=Count("id", filter=handed_off),
        overdue=Count("id", filter=handed_off & Q(sla_due_at__lt=now)),
        sal=Count("id", filter=Q(stage="sal")),
        sql=Count("id", filter=Q(stage="sql")),
        nurture=Count("id", filter=Q(stage__in=["lead", "subscriber", "recycled"])),
    )
    mine = Lead.objects.filter(owner=request.user).aggregate(
        waiting=Count("id", filter=handed_off),
        overdue=Count("id", filter=handed_off & Q(sla_due_at__lt=now)),
        sal=Count("id", filter=Q(stage="sal")),
    )
    recent_mqls = (
        Lead.objects.filter(stage="mql", handed_off_at__isnull=True)
        .select_related("company")
        .order_by("-stage_changed_at", "-id")[:10]
    )
    overdue = (
        Lead.objects.filter(handed_off, sla_due_at__lt=now)
        .select_related("owner", "company")
        .order_by("sla_due_at")[:10]
    )
    return render(
        request,
        "leads/home.html",
        {"team": team, "mine": mine, "recent_mqls": recent_mqls, "overdue_leads": overdue, "roles": roles},
    )
