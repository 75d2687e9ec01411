"""Pages for the handoff: marketing's MQL queue, the SDR inbox, the BANT call screen, lead actions.

Each view validates a form and calls one service. With htmx the row (or table) re-renders in
place; without JavaScript the same forms post normally and redirect back with a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads.api.permissions import require_roles, user_roles
from leads.models import Lead
from scoring.selectors import lead_explanation

from . import lifecycle, selectors, services
from .forms import ActionForm, BantForm, BulkActionForm, QueueFilterForm, RejectForm, sdr_choices
from .models import SdrProfile
from .sla import Schedule, business_hours_between

PAGE_SIZE = 50


def _queue_filters(form: QueueFilterForm) -> selectors.QueueFilters:
    if not form.is_valid():
        return selectors.QueueFilters()
    d = form.cleaned_data
    return selectors.QueueFilters(
        q=d.get("q") or "",
        fit_grade=tuple(d.get("fit_grade") or ()),
        source=d.get("source") or "",
        min_score=d.get("min_score"),
        min_probability=d["min_probability"] / 100 if d.get("min_probability") is not None else None,
        sort=d.get("sort") or "score",
    )


MAX_PAGE = 10_000  # 500,000 rows deep; beyond that a filter finds a lead faster than paging


def _page_number(request, key: str = "page") -> int:
    try:
        return min(max(1, int(request.GET.get(key, 1))), MAX_PAGE)
    except ValueError:
        return 1


def _queue_context(request):
    form = QueueFilterForm(request.GET or None)
    filters = _queue_filters(form)
    page = _page_number(request)
    rows, has_next = selectors.queue_page(selectors.mql_queue(filters=filters), page=page, size=PAGE_SIZE)
    for lead in rows:
        lead.reasons = selectors.top_reasons(lead)
    query = request.GET.copy()
    query.pop("page", None)
    facets = selectors.mql_queue_facets()
    return {
        "form": form,
        "leads": rows,
        "page": page,
        "has_next": has_next,
        "query": query.urlencode(),
        "sdrs": sdr_choices(),
        "disqualify_reasons": lifecycle.DISQUALIFY_REASONS,
        "counts": facets.counts,
        "sources": facets.sources,
    }


@login_required
def mql_queue(request):
    require_roles(request, "marketing")
    context = _queue_context(request)
    template = (
        "handoff/_queue_table.html"
        if request.htmx and request.htmx.target == "queue"
        else "handoff/mql_queue.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def mql_queue_bulk(request):
    require_roles(request, "marketing")
    ids = [int(i) for i in request.POST.getlist("lead_ids") if i.isdigit()]
    form = BulkActionForm(request.POST, lead_ids=ids)
    action = request.POST.get("action")
    if not ids:
        messages.error(request, "Select at least one lead.")
    elif form.is_valid() and action in ("handoff", "disqualify"):
        if action == "disqualify" and not form.cleaned_data.get("reason"):
            messages.error(request, "Choose a reason to disqualify.")
        else:
            results = services.leads_transition_bulk(
                lead_ids=form.cleaned_data["lead_ids"],
                action=action,
                actor=request.user,
                expected_stage="mql",
                owner=form.cleaned_data.get("owner") or None,
                reason=form.cleaned_data.get("reason") or "",
            )
            done = [r for r in results if r.ok]
            failed = [r for r in results if not r.ok]
            if done:
                owners = sorted({r.owner for r in done if r.owner})
                verb = "Handed off" if action == "handoff" else "Disqualified"
                to = f" to {', '.join(owners)}" if action == "handoff" else ""
                messages.success(request, f"{verb} {len(done)} lead(s){to}.")
            for r in failed[:5]:
                messages.error(request, f"Lead {r.lead_id}: {r.error}")
    else:
        messages.error(request, "Choose an action.")
    if request.htmx:
        return render(request, "handoff/_queue_table.html", _queue_context(request) | {"flash": True})
    return redirect(f"{reverse('mql-queue')}?{request.POST.get('query', '')}")


def _sla_left(lead, now, schedules):
    if lead.sla_due_at is None:
        return None
    schedule = schedules.get(lead.owner_id)
    hours = (
        business_hours_between(now, lead.sla_due_at, schedule)
        if schedule
        else (lead.sla_due_at - now).total_seconds() / 3600
    )
    return round(hours, 1)


def _inbox_context(request):
    now = timezone.now()
    counts = selectors.sdr_inbox_counts(user=request.user, now=now)
    # A page past the end (the SDR worked the last page down, or an old link) shows the last one.
    page = min(_page_number(request), _last_page(counts.waiting))
    sals_page = min(_page_number(request, "sals_page"), _last_page(counts.sals))
    waiting, waiting_more = selectors.queue_page(
        selectors.sdr_waiting(user=request.user), page=page, size=PAGE_SIZE
    )
    sals, sals_more = selectors.queue_page(
        selectors.sdr_sals(user=request.user), page=sals_page, size=PAGE_SIZE
    )
    profile = SdrProfile.objects.select_related("team").filter(user=request.user).first()
    schedule = profile.team.schedule() if profile and profile.team else Schedule()
    for lead in waiting:
        lead.sla_hours_left = _sla_left(lead, now, {request.user.pk: schedule})
        lead.overdue = lead.sla_due_at is not None and lead.sla_due_at < now
        lead.reasons = selectors.top_reasons(lead)
    query = request.GET.copy()
    return {
        "query": query.urlencode(),
        "waiting": waiting,
        "sals": sals,
        "counts": counts,
        "page": page,
        "sals_page": sals_page,
        "waiting_pages": _pager(query, "page", page, waiting_more),
        "sals_pages": _pager(query, "sals_page", sals_page, sals_more),
        "reject_form": RejectForm(),
        "reject_reasons": lifecycle.REJECT_REASONS,
    }


def _last_page(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def _pager(query, key: str, page: int, has_next: bool) -> dict:
    """Previous/next links for one list on a page that has several."""

    def link(n: int) -> str:
        q = query.copy()
        q[key] = str(n)
        return f"?{q.urlencode()}"

    return {
        "page": page,
        "previous": link(page - 1) if page > 1 else "",
        "next": link(page + 1) if has_next else "",
    }


@login_required
def sales_queue(request):
    require_roles(request, "sales")
    return render(request, "handoff/sales_queue.html", _inbox_context(request))


@login_required
@require_POST
def inbox_action(request, pk):
    """Accept or reject from the inbox; with htmx the row is replaced by its outcome."""
    require_roles(request, "sales")
    action = request.POST.get("action")
    form = RejectForm(request.POST) if action == "reject" else None
    error = None
    lead = get_object_or_404(Lead, pk=pk)
    if action not in ("accept", "reject"):
        error = "Unknown action."
    elif form is not None and not form.is_valid():
        error = "Choose a reason to reject."
    else:
        try:
            services.lead_transition(
                lead_id=pk,
                action=action,
                actor=request.user,
                expected_stage=request.POST.get("expected_stage", "mql"),
                reason=form.cleaned_data["reason"] if form else "",
                note=form.cleaned_data.get("note", "") if form else "",
            )
        except services.TransitionRefused as exc:
            error = exc.message
    lead.refresh_from_db()
    if request.htmx:
        return render(
            request,
            "handoff/_inbox_row_done.html",
            {"lead": lead, "action": action, "error": error},
            status=200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{'Accepted' if action == 'accept' else 'Rejected'} {lead.email}.")
    # Back to the pages the SDR was on (only the inbox's own page parameters are kept).
    back = QueryDict(mutable=True)
    shown = QueryDict(request.POST.get("query", ""))
    for key in ("page", "sals_page"):
        if shown.get(key, "").isdigit():
            back[key] = shown[key]
    return redirect(f"{reverse('sales-queue')}?{back.urlencode()}" if back else reverse("sales-queue"))


def _bant_context(lead, form, policy_result=None):
    return {
        "lead": lead,
        "form": form,
        "reviews": list(selectors.reviews_for(lead_id=lead.pk)[:10]),
        "interactions": list(lead.interactions.order_by("-occurred_at", "-id")[:10]),
        "reasons": selectors.top_reasons(lead, limit=5),
        "policy": services.current_policy(),
        "policy_result": policy_result,
        "explanation": lead_explanation(lead.score_explanation),
    }


@login_required
def qualify(request, pk):
    require_roles(request, "sales")
    lead = get_object_or_404(Lead.objects.select_related("company", "owner"), pk=pk)
    form = BantForm(request.POST or None, initial={"expected_stage": lead.stage})
    policy_result = None
    if request.method == "POST" and form.is_valid():
        data = form.review_data()
        try:
            review, transition = services.qualification_record(
                lead_id=lead.pk,
                actor=request.user,
                review=data,
                expected_stage=form.cleaned_data["expected_stage"],
                nurture_until=form.cleaned_data.get("nurture_until"),
            )
        except services.TransitionRefused as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            outcome = {
                "qualify": "qualified to SQL",
                "recycle": "recycled",
                "disqualify": "disqualified",
                "pending": "saved as pending",
            }[review.outcome]
            messages.success(request, f"BANT review recorded; {lead.email} {outcome}.")
            return redirect("lead-page", pk=lead.pk)
    if form.is_bound and form.is_valid():
        policy_result = lifecycle.evaluate_policy(
            lifecycle.BantReview(
                **{
                    k: v
                    for k, v in form.review_data().items()
                    if k in lifecycle.BantReview.__dataclass_fields__
                }
            ),
            services.current_policy(),
        )
    return render(request, "handoff/qualify.html", _bant_context(lead, form, policy_result))


@login_required
@require_POST
def qualify_check(request, pk):
    """htmx: as the SDR fills in the form, say whether the policy allows "qualify" and what is missing."""
    require_roles(request, "sales")
    form = BantForm(request.POST, initial={"expected_stage": "sal"})
    form.is_valid()
    data = {
        k: form.cleaned_data.get(k)
        for k in lifecycle.BantReview.__dataclass_fields__
        if k in form.cleaned_data
    }
    data = {k: v for k, v in data.items() if v not in (None, "")}
    data["outcome"] = "pending"
    try:
        result = lifecycle.evaluate_policy(lifecycle.BantReview(**data), services.current_policy())
    except ValueError:
        result = None
    return render(
        request, "handoff/_policy_check.html", {"policy_result": result, "policy": services.current_policy()}
    )


@login_required
@require_POST
def lead_action(request, pk):
    """The lead page's action buttons."""
    if not user_roles(request.user):
        require_roles(request, "marketing", "sales")
    form = ActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That action could not be read; reload the page and try again.")
        return redirect("lead-page", pk=pk)
    d = form.cleaned_data
    try:
        result = services.lead_transition(
            lead_id=pk,
            action=d["action"],
            actor=request.user,
            expected_stage=d["expected_stage"],
            reason=d.get("reason") or "",
            note=d.get("note") or "",
            owner=d.get("owner") or None,
            nurture_until=d.get("nurture_until"),
        )
    except services.TransitionRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Done: the lead is now {result.lead.get_stage_display()}.")
    return redirect("lead-page", pk=pk)
