"""Pages: the scoring editor (marketing) and the lead page (everyone with a role)."""

from dataclasses import asdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from handoff import lifecycle
from handoff import selectors as handoff_selectors
from handoff import services as handoff_services
from handoff.forms import sdr_choices
from handoff.models import StageChange
from leads.api.permissions import require_roles, user_roles
from leads.models import Lead
from leads.selectors import lead_interactions

from . import selectors, services
from .forms import DraftForm
from .models import RescoreJob, ScoringModel
from .predictive_services import predictive_overview


@login_required
def scoring_home(request):
    require_roles(request, "marketing")
    models = ScoringModel.objects.order_by("-version")
    active = next((m for m in models if m.status == "active"), None)
    job = RescoreJob.objects.select_related("model").order_by("-id").first()
    return render(
        request,
        "scoring/home.html",
        {"models": models, "active": active, "job": job, "predictive": predictive_overview()},
    )


@login_required
@require_POST
def draft_create(request):
    require_roles(request, "marketing")
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
    require_roles(request, "marketing")
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
    require_roles(request, "marketing")
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
    require_roles(request, "marketing")
    job = get_object_or_404(RescoreJob.objects.select_related("model"), pk=pk)
    return render(request, "scoring/job.html", {"job": job})


@login_required
def lead_detail(request, pk):
    if not user_roles(request.user):
        raise PermissionDenied("Your account has no leadqual role.")
    lead = get_object_or_404(Lead.objects.select_related("company", "owner", "prediction__model"), pk=pk)
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
    explanation = selectors.lead_explanation(lead.score_explanation)
    state = lifecycle.LeadState(
        stage=lead.stage,
        owner_id=lead.owner_id,
        handed_off=lead.stage == "mql" and lead.handed_off_at is not None,
    )
    actions = [
        a.value
        for a in lifecycle.allowed_actions(state, handoff_services.roles_of(request.user), request.user.pk)
    ]
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
            "actions": actions,
            "reviews": list(handoff_selectors.reviews_for(lead_id=lead.pk)[:10]),
            "sdrs": sdr_choices(),
            "reasons": {
                "reject": lifecycle.REJECT_REASONS,
                "recycle": lifecycle.RECYCLE_REASONS,
                "disqualify": lifecycle.DISQUALIFY_REASONS,
                "lose": lifecycle.DISQUALIFY_REASONS,
            },
            "labels": {a.value: spec.label for a, spec in lifecycle.ACTIONS.items()},
            "now": timezone.now(),
        },
    )
