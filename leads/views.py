from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from .models import Lead


@login_required
def home(request):
    counts = dict(Lead.objects.values_list("stage").annotate(n=Count("id")).order_by())
    recent_mqls = (
        Lead.objects.filter(stage="mql").select_related("company").order_by("-stage_changed_at", "-id")[:10]
    )
    return render(request, "leads/home.html", {"counts": counts, "recent_mqls": recent_mqls})
