"""Handoff writes: stage transitions, routing, SLA clocks and BANT reviews.

Invariant of every write here: the lead's stage, its audit row (StageChange) and its assignment
change in one transaction, checked against the stage the actor saw, under a row lock, so a stale
or concurrent action is refused (409), never applied twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from leads.api.auth import IntegrationPrincipal
from leads.api.permissions import user_roles
from leads.models import Lead

from . import lifecycle, routing
from .models import (
    Assignment,
    QualificationPolicySetting,
    QualificationReview,
    SalesTeam,
    SdrProfile,
    StageChange,
)
from .sla import Schedule, add_business_hours

User = get_user_model()

WEBHOOK_EVENTS = {
    "promote": "lead.mql",
    "handoff": "lead.handed_off",
    "accept": "lead.accepted",
    "reject": "lead.rejected",
    "qualify": "lead.sql",
    "recycle": "lead.recycled",
    "disqualify": "lead.disqualified",
    "lose": "lead.disqualified",
}
REJECT_NURTURE_DAYS = 30
DEFAULT_SLA = (4.0, 8.0)  # business hours to accept, and before escalation, without a team


class TransitionRefused(Exception):
    """A refused action, with the HTTP status the API answers and the field to highlight."""

    def __init__(self, message: str, *, status: int, field: str | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message, self.status, self.field, self.code = message, status, field, code


_STATUS = {"stale": 409, "forbidden": 403, "invalid": 400, "required": 400}
_VERBS = {
    "promote": "promoted to MQL",
    "handoff": "handed off",
    "accept": "accepted",
    "reject": "rejected",
    "qualify": "qualified",
    "recycle": "recycled",
    "disqualify": "disqualified",
    "convert": "converted",
    "win": "won",
    "lose": "lost",
    "reopen": "reopened",
}


def roles_of(actor) -> frozenset[lifecycle.Role]:
    if actor is None:
        return frozenset({lifecycle.Role.SYSTEM})
    if isinstance(actor, IntegrationPrincipal):
        return frozenset({lifecycle.Role.INTEGRATION})
    return frozenset(lifecycle.Role(r) for r in user_roles(actor))


def _actor_name(change: StageChange) -> str:
    if change.actor_id:
        user = change.actor
        return user.get_full_name() or user.username
    return change.actor_label or "someone"


def _stale_message(lead: Lead, expected: str) -> str:
    last = (
        StageChange.objects.filter(lead=lead).select_related("actor").order_by("-created_at", "-id").first()
    )
    if last is None:
        return f"This lead is now {lead.get_stage_display()}, not {expected}."
    when = timezone.localtime(last.created_at).strftime("%Y-%m-%d %H:%M")
    verb = _VERBS.get(last.action, last.action)
    return f"This lead was {verb} by {_actor_name(last)} at {when}; it is now {lead.get_stage_display()}."


def current_policy() -> lifecycle.QualificationPolicy:
    row = QualificationPolicySetting.objects.order_by("id").first()
    return row.as_policy() if row else lifecycle.DEFAULT_POLICY


def _sales_user(username_or_user) -> Any:
    if username_or_user is None:
        return None
    if isinstance(username_or_user, User):
        user = username_or_user
    else:
        user = User.objects.filter(username=username_or_user, is_active=True).first()
    if user is None or "sales" not in user_roles(user):
        raise TransitionRefused(
            f"{username_or_user} is not an active SDR (sales role).",
            status=400,
            field="owner",
            code="required",
        )
    return user


def _schedule_for(owner) -> tuple[Schedule, float, float, SalesTeam | None]:
    profile = SdrProfile.objects.select_related("team").filter(user=owner).first()
    team = profile.team if profile else None
    if team is None:
        return Schedule(), *DEFAULT_SLA, None
    return team.schedule(), team.accept_within_hours, team.escalate_after_hours, team


def _emit(event_action: str, lead: Lead, data: dict) -> None:
    event = WEBHOOK_EVENTS.get(event_action)
    if not event:
        return
    try:
        from . import webhooks
    except ImportError:  # pragma: no cover - webhooks not installed
        return
    webhooks.emit(event=event, lead_id=lead.pk, data=data)


@dataclass(frozen=True)
class TransitionResult:
    lead: Lead
    change: StageChange


def _candidates(exclude: Iterable[int] = ()) -> list[routing.Candidate]:
    since = timezone.now() - timedelta(days=7)
    open_q = Q(owned_leads__stage="sal") | Q(
        owned_leads__stage="mql", owned_leads__handed_off_at__isnull=False
    )
    users = (
        User.objects.filter(groups__name="sales", is_active=True)
        .exclude(pk__in=list(exclude))
        .annotate(open_leads=Count("owned_leads", filter=open_q, distinct=True))
        .annotate(recent=Count("assignments", filter=Q(assignments__assigned_at__gte=since), distinct=True))
        .select_related("sdr_profile")
    )
    candidates = []
    for u in users:
        p = getattr(u, "sdr_profile", None)
        candidates.append(
            routing.Candidate(
                user_id=u.pk,
                weight=p.weight if p else 1,
                capacity=p.capacity if p else 50,
                open_leads=u.open_leads,
                recent_assignments=u.recent,
                is_active=p.is_active if p else True,
                out_of_office_until=p.out_of_office_until if p else None,
                countries=frozenset(p.countries or []) if p else frozenset(),
                segments=frozenset(p.segments or []) if p else frozenset(),
                last_assigned_at=p.last_assigned_at if p else None,
            )
        )
    return candidates


def _route(lead: Lead, candidates: list[routing.Candidate], today: date) -> int | None:
    employee_count = lead.company.employee_count if lead.company_id else None
    chosen = routing.choose(
        candidates, country=lead.country, segment=routing.segment_for(employee_count), today=today
    )
    if chosen is not None:
        # Count the assignment at once so a bulk hand-off spreads leads like one at a time would.
        for i, c in enumerate(candidates):
            if c.user_id == chosen:
                candidates[i] = routing.Candidate(
                    **{
                        **c.__dict__,
                        "open_leads": c.open_leads + 1,
                        "recent_assignments": c.recent_assignments + 1,
                    }
                )
    return chosen


@transaction.atomic
def lead_transition(
    *,
    lead_id: int,
    action: str,
    actor,
    expected_stage: str | None,
    reason: str = "",
    note: str = "",
    owner=None,
    nurture_until: date | None = None,
    bant: lifecycle.BantReview | None = None,
    roles: frozenset[lifecycle.Role] | None = None,
    actor_label: str = "",
    candidates: list[routing.Candidate] | None = None,
) -> TransitionResult:
    """Apply one lifecycle action to one lead, or raise TransitionRefused (400/403/409)."""
    lead = Lead.objects.select_for_update(of=("self",)).select_related("company").filter(pk=lead_id).first()
    if lead is None:
        raise TransitionRefused("No lead with this id.", status=404)
    now = timezone.now()
    roles = roles or roles_of(actor)
    actor_user = actor if isinstance(actor, User) else None
    if expected_stage is not None and expected_stage != lead.stage:
        # Stale first, before owner lookups or routing: a race loser always learns it lost.
        raise TransitionRefused(_stale_message(lead, expected_stage), status=409, code="stale")
    owner_user = None
    routed = False
    if action == "handoff":
        owner_user = _sales_user(owner) if owner else None
        if owner_user is None and expected_stage == lead.stage:
            chosen = _route(lead, candidates if candidates is not None else _candidates(), now.date())
            if chosen is None:
                raise TransitionRefused(
                    "No SDR can take this lead now (all away, at capacity or outside its territory);"
                    " pick one.",
                    status=400,
                    field="owner",
                    code="required",
                )
            owner_user, routed = User.objects.get(pk=chosen), True
    state = lifecycle.LeadState(
        stage=lead.stage,
        owner_id=lead.owner_id,
        handed_off=lead.stage == "mql" and lead.handed_off_at is not None,
    )
    try:
        plan = lifecycle.plan(
            state,
            lifecycle.ActionRequest(
                action=action,
                actor_id=actor_user.pk if actor_user else None,
                roles=roles,
                expected_stage=expected_stage,
                reason=reason or "",
                note=note or "",
                owner_id=owner_user.pk if owner_user else None,
                nurture_until=nurture_until,
                today=now.date(),
                bant=bant,
            ),
            current_policy(),
        )
    except lifecycle.StaleStage as exc:
        raise TransitionRefused(
            _stale_message(lead, expected_stage or ""), status=409, code=exc.code
        ) from exc
    except lifecycle.TransitionError as exc:
        raise TransitionRefused(
            exc.message, status=_STATUS[exc.code], field=exc.field, code=exc.code
        ) from exc
    except ValueError as exc:  # an unknown action or stage name
        raise TransitionRefused(str(exc), status=400, field="action", code="invalid") from exc

    changes: dict[str, Any] = {"stage": plan.to_stage.value, "owner_id": plan.owner_id, "updated_at": now}
    if plan.to_stage.value != plan.from_stage.value:
        changes["stage_changed_at"] = now
    sla_due = escalate_at = None
    if plan.action is lifecycle.Action.HANDOFF:
        schedule, accept_hours, escalate_hours, _team = _schedule_for(owner_user)
        sla_due = add_business_hours(now, accept_hours, schedule)
        escalate_at = add_business_hours(now, escalate_hours, schedule)
        changes.update(handed_off_at=now, sla_due_at=sla_due)
    else:
        # Accepting, rejecting or leaving the queue stops the SLA clock.
        changes["sla_due_at"] = None
        if not plan.handed_off:
            changes["handed_off_at"] = None
    if plan.action is lifecycle.Action.RECYCLE:
        changes["nurture_until"] = nurture_until
    elif plan.action is lifecycle.Action.REJECT:
        # A rejected lead rests in nurture before scoring may promote it again; otherwise the next
        # rescore would hand the SDR the same lead straight back.
        changes["nurture_until"] = nurture_until or now.date() + timedelta(days=REJECT_NURTURE_DAYS)
    # The guard repeats the stage check in SQL: with the row lock held it always matches, and it
    # keeps the write correct even if the locking above is ever changed.
    updated = Lead.objects.filter(pk=lead.pk, stage=plan.from_stage.value).update(**changes)
    if updated != 1:  # pragma: no cover - impossible under the row lock
        raise TransitionRefused(_stale_message(lead, expected_stage or ""), status=409, code="stale")

    _record_assignment(lead, plan, owner_user, actor_user, routed, now, sla_due, escalate_at)
    change = StageChange.objects.create(
        lead=lead,
        action=plan.action.value,
        from_stage=plan.from_stage.value,
        to_stage=plan.to_stage.value,
        actor=actor_user,
        actor_label=actor_label
        or ("routing" if routed else "")
        or (str(actor) if actor and not actor_user else ""),
        reason=plan.reason,
        note=plan.note,
        owner_id=plan.owner_id,
        score=lead.score,
        details={"routed": routed, "sla_due_at": sla_due.isoformat() if sla_due else None}
        if plan.action is lifecycle.Action.HANDOFF
        else {},
        created_at=now,
    )
    lead.refresh_from_db()
    _emit(
        plan.action.value,
        lead,
        {
            "from_stage": plan.from_stage.value,
            "to_stage": plan.to_stage.value,
            "owner": lead.owner.username if lead.owner else None,
            "reason": plan.reason,
            "score": lead.score,
            "fit_grade": lead.fit_grade,
            "email": lead.email,
        },
    )
    return TransitionResult(lead, change)


def _record_assignment(lead, plan, owner_user, actor_user, routed, now, sla_due, escalate_at) -> None:
    open_ones = Assignment.objects.filter(lead=lead, status=Assignment.Status.OPEN)
    action = plan.action
    if action is lifecycle.Action.HANDOFF:
        open_ones.update(status=Assignment.Status.REASSIGNED, resolved_at=now)
        Assignment.objects.create(
            lead=lead,
            owner=owner_user,
            assigned_by=actor_user,
            routed=routed,
            assigned_at=now,
            sla_due_at=sla_due,
            escalate_at=escalate_at,
        )
        SdrProfile.objects.filter(user=owner_user).update(last_assigned_at=now)
    elif action is lifecycle.Action.ACCEPT:
        open_ones.update(status=Assignment.Status.ACCEPTED, resolved_at=now)
    elif action is lifecycle.Action.REJECT:
        open_ones.update(status=Assignment.Status.REJECTED, resolved_at=now)
    else:
        open_ones.update(status=Assignment.Status.CLOSED, resolved_at=now)


@dataclass(frozen=True)
class BulkResult:
    lead_id: int
    ok: bool
    stage: str | None = None
    owner: str | None = None
    error: str | None = None
    status: int = 200


def leads_transition_bulk(
    *,
    lead_ids: Sequence[int],
    action: str,
    actor,
    expected_stage: str,
    reason: str = "",
    note: str = "",
    owner=None,
) -> list[BulkResult]:
    """The same action on many leads, each in its own transaction: one refusal never blocks the rest."""
    candidates = _candidates() if action == "handoff" and not owner else None
    results = []
    for lead_id in lead_ids:
        try:
            done = lead_transition(
                lead_id=lead_id,
                action=action,
                actor=actor,
                expected_stage=expected_stage,
                reason=reason,
                note=note,
                owner=owner,
                candidates=candidates,
            )
            results.append(
                BulkResult(
                    lead_id, True, done.lead.stage, done.lead.owner.username if done.lead.owner else None
                )
            )
        except TransitionRefused as exc:
            results.append(BulkResult(lead_id, False, error=exc.message, status=exc.status))
    return results


@transaction.atomic
def qualification_record(
    *,
    lead_id: int,
    actor,
    review: dict[str, Any],
    expected_stage: str | None,
    nurture_until: date | None = None,
) -> tuple[QualificationReview, TransitionResult | None]:
    """Record a BANT review; an outcome other than pending applies its action in the same transaction.

    A refused action (e.g. qualify while the policy is not met) rolls the review back too: the
    caller gets the reasons and nothing is half-written.
    """
    now = timezone.now()
    row = QualificationReview(
        lead_id=lead_id, reviewer=actor if isinstance(actor, User) else None, created_at=now, **review
    )
    bant = row.as_bant()
    result = lifecycle.evaluate_policy(bant, current_policy())
    row.policy_met, row.policy_missing = result.met, list(result.missing)
    if not Lead.objects.filter(pk=lead_id).exists():
        raise TransitionRefused("No lead with this id.", status=404)
    transition = None
    if row.outcome != "pending":
        transition = lead_transition(
            lead_id=lead_id,
            action=row.outcome,
            actor=actor,
            expected_stage=expected_stage,
            reason=row.reason,
            note=row.notes,
            nurture_until=nurture_until,
            bant=bant,
        )
    elif "sales" not in user_roles(actor) and "admin" not in user_roles(actor):
        raise TransitionRefused("Recording a BANT review needs the sales role.", status=403)
    row.save()
    return row, transition


def sla_escalate_overdue(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: flag hand-offs past their escalation limit, tell the manager, optionally reassign."""
    now = now or timezone.now()
    escalated = reassigned = 0
    due = (
        Assignment.objects.filter(
            status=Assignment.Status.OPEN, escalate_at__lte=now, escalated_at__isnull=True
        )
        .select_related("lead", "owner__sdr_profile__team__manager")
        .order_by("escalate_at")[:500]
    )
    for assignment in due:
        with transaction.atomic():
            claimed = Assignment.objects.filter(pk=assignment.pk, escalated_at__isnull=True).update(
                escalated_at=now
            )
            if not claimed:
                continue
            profile = getattr(assignment.owner, "sdr_profile", None)
            team = profile.team if profile else None
            StageChange.objects.create(
                lead=assignment.lead,
                action="escalate",
                from_stage="mql",
                to_stage="mql",
                actor_label="SLA escalation",
                reason="sla_breached",
                owner=assignment.owner,
                details={
                    "sla_due_at": assignment.sla_due_at.isoformat(),
                    "team": team.name if team else None,
                },
                created_at=now,
            )
            escalated += 1
            manager = team.manager if team else None
            if manager and manager.email:
                lead = assignment.lead
                transaction.on_commit(
                    lambda m=manager, lead=lead, a=assignment: send_mail(
                        f"SLA breached: {lead.email} not accepted by {a.owner.username}",
                        f"{a.owner.username} was handed {lead.email} at {a.assigned_at:%Y-%m-%d %H:%M}"
                        " and has not "
                        f"accepted or rejected it (due {a.sla_due_at:%Y-%m-%d %H:%M}).",
                        None,
                        [m.email],
                        fail_silently=True,
                    )
                )
            if team and team.reassign_on_escalation:
                try:
                    lead_transition(
                        lead_id=assignment.lead_id,
                        action="handoff",
                        actor=None,
                        expected_stage="mql",
                        roles=frozenset({lifecycle.Role.MARKETING}),
                        actor_label="SLA escalation",
                        candidates=_candidates(exclude=[assignment.owner_id]),
                    )
                    reassigned += 1
                except TransitionRefused:
                    pass  # nobody else free: the flag and the manager's mail stand
    return {"escalated": escalated, "reassigned": reassigned}
