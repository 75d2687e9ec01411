"""Pages: the scoring editor (marketing) and the lead page (everyone with a role)."""

from dataclasses import asdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from handoff.models import StageChange
from leads.api.permissions import user_roles
from leads.models import Lead
from leads.selectors import lead_interactions

from . import selectors, services
from .forms import DraftForm
from .models import RescoreJob, ScoringModel


def _require(request, *roles):
    if not user_roles(request.user) & (set(roles) | {"admin"}):
        raise PermissionDenied(f"This page needs the {' or '.join(roles)} role.")


@login_required
def scoring_home(request):
    _require(request, "marketing")
    models = ScoringModel.objects.order_by("-version")
    active = next((m for m in models if m.status == "active"), None)
    job = RescoreJob.objects.select_related("model").order_by("-id").first()
    return render(request, "scoring/home.html", {"models": models, "active": active, "job": job})


@login_required
@require_POST
def draft_create(request):
    _require(request, "marketing")
    source = (
        get_object_or_404(ScoringModel, pk=request.POST.get("from_model"))
        if request.POST.get("from_model")
        else None
    )
    draft = services.scoring_model_create_draft(
        name=request.POST.get("name") or "New draft", from_model=source, actor=request.user
    )
    messages.success(request, f"Draft v{draft.version} created. Tune it, preview it, then activate it.")
    return redirect("scoring-model", pk=draft.pk)


@login_required
def model_detail(request, pk):
    _require(request, "marketing")
    model = get_object_or_404(ScoringModel, pk=pk)
    form = DraftForm(request.POST or None, model=model)
    if request.method == "POST":
        if model.status != "draft":
            messages.error(request, "Only drafts can be edited.")
        elif form.is_valid():
            services.scoring_model_update_draft(
                model=model, definition=form.cleaned_data["definition_dict"], name=form.cleaned_data["name"]
            )
            messages.success(request, "Draft saved.")
            return redirect("scoring-model", pk=model.pk)
    backtest = None
    if request.GET.get("backtest"):
        backtest = asdict(selectors.backtest(draft=model))
    preview = None
    if request.GET.get("lead"):
        try:
            lead = Lead.objects.get(pk=int(request.GET["lead"]))
            preview = {"lead": lead, "explanation": services.preview_lead(model=model, lead_id=lead.pk)}
        except (ValueError, Lead.DoesNotExist):
            messages.error(request, "No lead with that id.")
    return render(
        request,
        "scoring/model.html",
        {
            "model": model,
            "form": form,
            "backtest": backtest,
            "preview": preview,
            "editable": model.status == "draft",
        },
    )


@login_required
@require_POST
def model_activate(request, pk):
    _require(request, "marketing")
    model = get_object_or_404(ScoringModel, pk=pk)
    try:
        job = services.scoring_model_activate(model=model, actor=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("scoring-model", pk=pk)
    messages.success(request, f"v{model.version} is active. Every lead is being rescored.")
    return redirect("rescore-job-page", pk=job.pk)


@login_required
def job_detail(request, pk):
    _require(request, "marketing")
    job = get_object_or_404(RescoreJob.objects.select_related("model"), pk=pk)
    return render(request, "scoring/job.html", {"job": job})


@login_required
def lead_detail(request, pk):
    if not user_roles(request.user):
        raise PermissionDenied("Your account has no leadqual role.")
    lead = get_object_or_404(Lead.objects.select_related("company", "owner"), pk=pk)
    interactions = list(lead_interactions(lead_id=lead.pk)[:50])
    stage_changes = list(
        StageChange.objects.filter(lead=lead)
        .select_related("actor", "owner")
        .order_by("-created_at", "-id")[:50]
    )
    history = list(selectors.score_history(lead_id=lead.pk)[:40])
    timeline = sorted(
        [("interaction", i.occurred_at, i) for i in interactions]
        + [("stage", s.created_at, s) for s in stage_changes],
        key=lambda t: t[1],
        reverse=True,
    )
    explanation = lead.score_explanation or {}
    return render(
        request,
        "scoring/lead.html",
        {
            "lead": lead,
            "fit": explanation.get("fit", {}),
            "engagement": explanation.get("engagement", {}),
            "explanation": explanation,
            "timeline": timeline,
            "history": history,
            "interaction_count": lead.interactions.count(),
        },
    )
