"""The demo's sales side: a team, two SDRs, the policy, and a closed-loop history of hand-offs.

Everything goes through the real services (`leads_transition_bulk`, `lead_transition`,
`qualification_record`), so the history obeys the lifecycle, routing, capacity and policy rules
exactly like work done in the browser. The services stamp each step with the current time; after
each step a plain queryset update moves its timestamps back to when the plan says it happened,
so the 60-day timeline reads naturally. No timestamp lands in the future (deadlines such as
`sla_due_at` and `nurture_until` excepted: those are meant to be ahead).

Deterministic for a seed: leads are taken in e-mail order and every random choice comes from one
`random.Random(seed)`.

It lives in `scoring` because it needs both `leads` and `handoff` (the import rule: leads imports
neither, handoff may import leads, scoring may import both).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Min
from django.utils import timezone

from handoff import lifecycle
from handoff.models import (
    Assignment,
    QualificationPolicySetting,
    QualificationReview,
    SalesTeam,
    SdrProfile,
    StageChange,
)
from handoff.services import TransitionRefused, lead_transition, leads_transition_bulk, qualification_record
from handoff.sla import add_business_hours
from leads.enrichment import PERSONAL_EMAIL_DOMAINS, email_domain
from leads.models import Interaction, Lead

User = get_user_model()

WINDOW = timedelta(days=60)  # the history spreads over this many days before now
MARGIN = timedelta(minutes=5)  # the newest step happened at least this long ago
TEAM = {
    "name": "Inbound SDRs",
    "timezone": "Europe/London",
    "workdays": [0, 1, 2, 3, 4],
    "day_start": time(9, 0),
    "day_end": time(17, 0),
    "accept_within_hours": 4,
    "escalate_after_hours": 8,
}
SDRS = {
    "sdr": {"weight": 2, "capacity": 60, "countries": []},
    "sdr2": {"weight": 1, "capacity": 40, "countries": ["DE", "AT", "CH", "FR", "NL"]},
}
MARKETER, MANAGER = "marketer", "admin"

# Shares, applied with largest-remainder rounding so small demos still get every kind.
HANDOFF_SHARE = 0.55  # of the MQLs
AFTER_HANDOFF = {"waiting": 10, "rejected": 15, "accepted": 75}
AFTER_ACCEPT = {"sql": 45, "recycled": 20, "disqualified": 10, "sal": 25}
AFTER_SQL = {"customer": 20, "lost": 10, "opportunity": 10, "sql": 60}
# Best outcome first: leads with the better fit (plus noise) get the better fates.
FATE_ORDER = (
    "customer",
    "opportunity",
    "lost",
    "sql",
    "sal",
    "waiting",
    "waiting_overdue",
    "recycled",
    "disqualified",
    "rejected",
)
CHAINS = {  # the steps after the hand-off
    "waiting": (),
    "waiting_overdue": (),
    "rejected": ("reject",),
    "sal": ("accept",),
    "sql": ("accept", "qualify"),
    "opportunity": ("accept", "qualify", "convert"),
    "customer": ("accept", "qualify", "convert", "win"),
    "lost": ("accept", "qualify", "convert", "lose"),
    "recycled": ("accept", "recycle"),
    "disqualified": ("accept", "disqualify"),
}
GAP_HOURS = {  # hours from the previous step: (min, max)
    "handoff": (0.5, 36),  # from the promotion: the marketer works the queue
    "accept": (0.2, 5),
    "reject": (0.2, 6),
    "pending": (3, 72),  # a first call that left questions open
    "qualify": (24, 9 * 24),
    "recycle": (24, 12 * 24),
    "disqualify": (24, 12 * 24),
    "convert": (48, 10 * 24),
    "win": (7 * 24, 25 * 24),
    "lose": (7 * 24, 25 * 24),
}
# Fates that end open are anchored to now: hours from their last step to now.
TAIL_HOURS = {"waiting": (0.25, 3), "waiting_overdue": (5, 5 * 24), "sal": (2, 10 * 24)}
PENDING_SHARE = 0.4  # of the leads that stay SAL, the ones with a first call on record
OFFICE = (time(8, 0), time(18, 30))  # when people act (team's time zone, Monday to Friday)

GENERIC_REJECT_REASONS = (("not_a_fit", 4), ("no_interest", 4), ("bad_contact_data", 2), ("duplicate", 1))
REJECT_NOTES = {
    "not_a_fit": "Too small for us today; no sales team to speak of.",
    "no_interest": "Downloaded the guide for a blog post, not looking for a tool.",
    "bad_contact_data": "Phone number disconnected and the e-mail bounced on first outreach.",
    "duplicate": "Already in an open conversation with a colleague at the same company.",
    "student": "Researching lead scoring for a thesis.",
    "competitor": "Works for an agency that sells lead scoring services.",
}
RECYCLE_REASONS = ("no_budget_now", "bad_timing", "not_ready")
DISQUALIFY_REASONS = (("not_a_fit", 5), ("bad_contact_data", 2), ("duplicate", 2))
PAINS = (
    "SDRs chase every form fill; half the booked meetings are no-shows.",
    "Marketing and sales argue every quarter about what an MQL is.",
    "Routing is a spreadsheet; hot leads wait two days for a first call.",
    "Nobody can tell which campaigns bring pipeline, only clicks.",
    "The scoring in their marketing tool is a black box nobody trusts.",
    "Hiring four SDRs next quarter and needs a process before they start.",
)
LOST_NOTES = (
    "Chose a competitor on price.",
    "Project shelved after a reorganisation.",
    "Went with the scoring built into their CRM.",
)
QUALIFY_NOTES = (
    "Strong call. Wants a pilot with the inbound team first.",
    "Clear pain and a sponsor; asked for a proposal and security review.",
    "Evaluating us against their CRM's built-in scoring; we are ahead on explainability.",
    "Booked a technical deep-dive with their RevOps lead.",
)


@dataclass
class LeadInfo:
    id: int
    email: str
    first_name: str
    seniority: str
    industry: str
    employees: int | None
    fit_score: int
    lo: datetime  # the earliest believable moment for its promotion


@dataclass
class Plan:
    lead: LeadInfo
    fate: str
    steps: list[tuple[str, datetime]] = field(default_factory=list)  # ("promote", t0), ("handoff", t1), ...
    content: dict[str, dict] = field(default_factory=dict)  # what each step says, decided up front
    owner: object | None = None
    failed: str = ""


def handoff_setup() -> SalesTeam:
    """The team, the two SDR profiles and the policy row; existing ones are left as they are."""
    manager = User.objects.get(username=MANAGER)
    if not manager.email:
        manager.email = f"{MANAGER}@leadqual.demo"
        manager.save(update_fields=["email"])
    team, _ = SalesTeam.objects.get_or_create(name=TEAM["name"], defaults={**TEAM, "manager": manager})
    for username, routing in SDRS.items():
        SdrProfile.objects.get_or_create(
            user=User.objects.get(username=username), defaults={"team": team, **routing}
        )
    if not QualificationPolicySetting.objects.exists():
        QualificationPolicySetting.objects.create(**lifecycle.DEFAULT_POLICY.to_dict())
    return team


def history_exists() -> bool:
    return Assignment.objects.exists() or QualificationReview.objects.exists()


def history_build(*, seed: int, now: datetime | None = None) -> dict[str, int]:
    """Hand off, accept, reject, qualify, recycle, disqualify, convert, win and lose demo MQLs."""
    # Two streams: `rng` decides what happens (who, which fate, what the SDR says) in e-mail
    # order, `clock` decides when. So the same seed tells the same story whatever the time of
    # day it runs, though office hours and weekends move the timestamps.
    rng, clock = random.Random(seed), random.Random(f"{seed}:clock")
    now = now or timezone.now()
    team = SalesTeam.objects.get(name=TEAM["name"])
    marketer = User.objects.get(username=MARKETER)
    mqls = _mql_infos(now)
    handed = rng.sample(mqls, round(len(mqls) * HANDOFF_SHARE)) if mqls else []
    handed_ids = {info.id for info in handed}
    plans = _plans(rng, clock, handed, now, team)
    # The MQLs nobody handed off yet were promoted during the last three weeks.
    promotions = {p.lead.id: p.steps[0][1] for p in plans}
    for info in mqls:
        if info.id not in handed_ids:
            promotions[info.id] = _between(clock, max(info.lo, now - timedelta(days=21)), now - MARGIN)
    _backdate_promotions(promotions)
    counts = _run(plans, team=team, marketer=marketer, now=now)
    for profile in SdrProfile.objects.all():
        last = Assignment.objects.filter(owner_id=profile.user_id).aggregate(last=Max("assigned_at"))["last"]
        SdrProfile.objects.filter(pk=profile.pk).update(last_assigned_at=last)
    return {"mqls": len(mqls), "handed_off": len(handed), **counts}


# --- planning ---------------------------------------------------------------------------------


def _mql_infos(now: datetime) -> list[LeadInfo]:
    rows = (
        Lead.objects.filter(stage="mql")
        .order_by("email")
        .values_list(
            "id",
            "email",
            "first_name",
            "seniority",
            "company__industry",
            "company__employee_count",
            "fit_score",
        )
    )
    first = dict(
        Interaction.objects.filter(lead__stage="mql")
        .values("lead_id")
        .annotate(first=Min("occurred_at"))
        .values_list("lead_id", "first")
    )
    earliest = now - WINDOW
    infos = []
    for id_, email, first_name, seniority, industry, employees, fit in rows:
        seen = first.get(id_)
        lo = max(earliest, seen + timedelta(minutes=10)) if seen else earliest
        infos.append(
            LeadInfo(id_, email, first_name, seniority, industry or "", employees, fit, min(lo, now - MARGIN))
        )
    return infos


def _split(n: int, shares: dict[str, float]) -> dict[str, int]:
    total = sum(shares.values())
    exact = {k: n * v / total for k, v in shares.items()}
    counts = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _fates(n: int) -> list[str]:
    top = _split(n, AFTER_HANDOFF)
    if n >= 3 and not top["waiting"]:  # the demo should always show one overdue hand-off
        top["waiting"], top["accepted"] = 1, top["accepted"] - 1
    accepted = _split(top["accepted"], AFTER_ACCEPT)
    sql = _split(accepted.pop("sql"), AFTER_SQL)
    overdue = (top["waiting"] + 1) // 2
    counts = Counter(
        {
            "waiting_overdue": overdue,
            "waiting": top["waiting"] - overdue,
            "rejected": top["rejected"],
            **accepted,
            **sql,
        }
    )
    return [fate for fate in FATE_ORDER for _ in range(counts[fate])]


def _hours(rng: random.Random, step: str, table=GAP_HOURS) -> timedelta:
    low, high = table[step]
    return timedelta(hours=rng.uniform(low, high))


def _between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    return low + (high - low) * rng.random() if high > low else high


def _plans(
    rng: random.Random, clock: random.Random, handed: list[LeadInfo], now: datetime, team: SalesTeam
) -> list[Plan]:
    fates = _fates(len(handed))
    tz = ZoneInfo(team.timezone)
    schedule = team.schedule()
    ceiling = now - MARGIN
    # Better fit, better fate, with enough noise that a C can win and an A can be rejected.
    ranked = sorted(handed, key=lambda info: info.fit_score + rng.gauss(0, 15), reverse=True)
    plans = []
    for info, fate in zip(ranked, fates, strict=True):
        chain = list(CHAINS[fate])
        if fate == "sal" and rng.random() < PENDING_SHARE:
            chain.append("pending")
        content = {step: _content(rng, info, step, now.date()) for step in chain}
        names = ["handoff", *chain]
        gaps = [_hours(clock, name) for name in names]
        if fate in TAIL_HOURS:
            times = _backwards(clock, ceiling - _hours(clock, fate, TAIL_HOURS), gaps, tz)
            if fate == "waiting_overdue":
                # Back a working day at a time until the SLA was due before now.
                while add_business_hours(times[1], team.accept_within_hours, schedule) >= ceiling:
                    times = _backwards(clock, times[1] - timedelta(days=1), gaps, tz)
        else:
            times = _forwards(clock, info.lo, ceiling, gaps, tz)
        if times[0] < info.lo < times[1]:  # shifted before the lead's first visit: promote later
            times[0] = _between(clock, info.lo, times[1])
        plans.append(Plan(info, fate, list(zip(["promote", *names], times, strict=True)), content))
    return plans


def _forwards(rng, lo: datetime, ceiling: datetime, gaps: list[timedelta], tz) -> list[datetime]:
    """Promotion some time after `lo`, then each step its gap later, in office hours."""
    busy = sum(gaps, timedelta())
    start = _between(rng, lo, ceiling - busy)
    if start < lo < ceiling:
        # The lead's first visit is too recent for this path at its usual pace: compress it.
        scale = (ceiling - lo) / (ceiling - start)
        start, gaps = lo, [g * scale for g in gaps]
    for _ in range(4):
        times = [start]
        for gap in gaps:
            times.append(_office_after(rng, times[-1] + gap, tz))
        overshoot = times[-1] - ceiling
        if overshoot <= timedelta():
            return times
        # Waiting for office hours pushed the last step past now: start that much earlier.
        start -= overshoot + timedelta(hours=1)
    while times[-1] > ceiling:  # still past now: the same weekdays and hours a week earlier
        times = [t - timedelta(days=7) for t in times]
    return times


def _backwards(rng, last: datetime, gaps: list[timedelta], tz) -> list[datetime]:
    """The last step at `last` (or the office hours before it), each earlier one its gap before."""
    times = [_office_before(rng, last, tz)]
    for gap in reversed(gaps[1:]):
        times.append(_office_before(rng, times[-1] - gap, tz))
    times.append(times[-1] - gaps[0])  # the promotion: the scoring engine works around the clock
    return times[::-1]


def _in_office(local: datetime) -> bool:
    return local.weekday() < 5 and OFFICE[0] <= local.time() < OFFICE[1]


def _office_after(rng, moment: datetime, tz) -> datetime:
    """People act in office hours: a moment outside them moves to the next working morning."""
    local = moment.astimezone(tz)
    if _in_office(local):
        return moment
    today_still = local.weekday() < 5 and local.time() < OFFICE[0]
    day = local.date() if today_still else local.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    opens = datetime.combine(day, OFFICE[0], tz)
    return opens + timedelta(minutes=rng.uniform(0, 150))


def _office_before(rng, moment: datetime, tz) -> datetime:
    """The same backwards: a moment outside office hours moves to the previous working afternoon."""
    local = moment.astimezone(tz)
    if _in_office(local):
        return moment
    today_still = local.weekday() < 5 and local.time() >= OFFICE[1]
    day = local.date() if today_still else local.date() - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    closes = datetime.combine(day, OFFICE[1], tz)
    return closes - timedelta(minutes=rng.uniform(1, 150))


# --- running the plans through the services ---------------------------------------------------


def _run(plans: list[Plan], *, team: SalesTeam, marketer, now: datetime) -> dict[str, int]:
    schedule = team.schedule()
    tz = ZoneInfo(team.timezone)
    ceiling = now - MARGIN
    events = sorted(
        (min(at, ceiling), plan.lead.email, i, plan, step)
        for plan in plans
        for i, (step, at) in enumerate(plan.steps)
        if step != "promote"
    )
    users = {u.username: u for u in User.objects.filter(username__in=SDRS)}
    done: Counter[str] = Counter()
    batch: list[tuple[datetime, Plan]] = []

    def hand_off() -> None:
        # Like the marketer working the MQL queue: one bulk call, routing picks each SDR.
        results = leads_transition_bulk(
            lead_ids=[plan.lead.id for _, plan in batch],
            action="handoff",
            actor=marketer,
            expected_stage="mql",
        )
        for (at, plan), result in zip(batch, results, strict=True):
            if not result.ok:
                plan.failed = result.error or "refused"
                done["refused"] += 1
                continue
            plan.owner = users[result.owner]
            _backdate_handoff(plan.lead.id, at, team, schedule)
            done["handoff"] += 1
        batch.clear()

    for at, _, _, plan, step in events:
        if step == "handoff":
            # Consecutive hand-offs of one London day go in one bulk call.
            if batch and batch[0][0].astimezone(tz).date() != at.astimezone(tz).date():
                hand_off()
            batch.append((at, plan))
            continue
        if batch:
            hand_off()
        if plan.failed:
            continue
        try:
            _step(plan, step, at)
            done[step] += 1
        except TransitionRefused as exc:
            plan.failed = exc.message
            done["refused"] += 1
    if batch:
        hand_off()
    return dict(done)


def _content(rng: random.Random, info: LeadInfo, step: str, today: date) -> dict:
    """The keyword arguments of the service call behind `step`, beyond lead, actor and stage."""
    if step == "reject":
        reason = _reject_reason(rng, info)
        return {"reason": reason, "note": REJECT_NOTES[reason]}
    if step in ("qualify", "recycle", "disqualify", "pending"):
        review, nurture_until = _review(rng, info, step, today)
        return {"review": review, "nurture_until": nurture_until}
    if step == "lose":
        return {"reason": "lost", "note": rng.choice(LOST_NOTES)}
    return {}


def _step(plan: Plan, step: str, at: datetime) -> None:
    lead_id, owner, content = plan.lead.id, plan.owner, plan.content[step]
    if step in ("qualify", "recycle", "disqualify", "pending"):
        row, result = qualification_record(lead_id=lead_id, actor=owner, expected_stage="sal", **content)
        QualificationReview.objects.filter(pk=row.pk).update(created_at=at)
        if result is not None:
            _backdate_change(lead_id, result.change.pk, at)
        return
    expected = {"convert": "sql", "win": "opportunity", "lose": "opportunity"}.get(step, "mql")
    result = lead_transition(lead_id=lead_id, action=step, actor=owner, expected_stage=expected, **content)
    if step in ("accept", "reject"):
        Assignment.objects.filter(lead_id=lead_id).update(resolved_at=at)
    _backdate_change(lead_id, result.change.pk, at)


def _backdate_promotions(promotions: dict[int, datetime]) -> None:
    changes = list(StageChange.objects.filter(lead_id__in=promotions, action="promote").only("id", "lead_id"))
    for change in changes:
        change.created_at = promotions[change.lead_id]
    StageChange.objects.bulk_update(changes, ["created_at"], batch_size=500)
    leads = [Lead(id=lead_id, stage_changed_at=at) for lead_id, at in promotions.items()]
    Lead.objects.bulk_update(leads, ["stage_changed_at"], batch_size=500)


def _backdate_handoff(lead_id: int, at: datetime, team: SalesTeam, schedule) -> None:
    sla_due = add_business_hours(at, team.accept_within_hours, schedule)
    escalate_at = add_business_hours(at, team.escalate_after_hours, schedule)
    Lead.objects.filter(pk=lead_id).update(handed_off_at=at, sla_due_at=sla_due, updated_at=at)
    Assignment.objects.filter(lead_id=lead_id, status=Assignment.Status.OPEN).update(
        assigned_at=at, sla_due_at=sla_due, escalate_at=escalate_at
    )
    StageChange.objects.filter(lead_id=lead_id, action="handoff").update(
        created_at=at, details={"routed": True, "sla_due_at": sla_due.isoformat()}
    )


def _backdate_change(lead_id: int, change_id: int, at: datetime) -> None:
    StageChange.objects.filter(pk=change_id).update(created_at=at)
    Lead.objects.filter(pk=lead_id).update(stage_changed_at=at, updated_at=at)


# --- what the SDRs say ------------------------------------------------------------------------


def _weighted(rng: random.Random, options) -> str:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def _reject_reason(rng: random.Random, info: LeadInfo) -> str:
    if info.seniority == "student" or (info.industry == "education" and rng.random() < 0.3):
        return "student"
    if info.industry == "professional_services" and rng.random() < 0.5:
        return "competitor"  # consultancies that resell scoring work
    if email_domain(info.email) in PERSONAL_EMAIL_DOMAINS and rng.random() < 0.6:
        return "bad_contact_data"
    return _weighted(rng, GENERIC_REJECT_REASONS)


def _review(rng: random.Random, info: LeadInfo, step: str, today: date) -> tuple[dict, date | None]:
    decision_maker = info.seniority in ("c_level", "vp")
    role = "decision_maker" if decision_maker else "champion"
    amount = Decimal(max(5_000, min(250_000, round((info.employees or 40) * rng.uniform(40, 160), -3))))
    review = {
        "budget_status": "unknown",
        "budget_amount": None,
        "budget_notes": "",
        "authority_status": "unknown",
        "authority_role": "unknown",
        "need_status": "unknown",
        "need_pain": "",
        "timeline_status": "unknown",
        "timeline_timeframe": "unknown",
        "notes": "",
        "outcome": step,
        "reason": "",
    }
    nurture_until = None
    if step == "qualify":
        budget_known = rng.random() < 0.8
        review.update(
            budget_status="confirmed" if budget_known else "unknown",
            budget_amount=amount if budget_known else None,
            budget_notes="Approved for this fiscal year."
            if budget_known
            else "Budget owner joins the next call.",
            authority_status="confirmed",
            authority_role=role,
            need_status="confirmed",
            need_pain=rng.choice(PAINS),
            timeline_status="confirmed",
            timeline_timeframe=rng.choice(("under_1_month", "1_3_months", "1_3_months", "3_6_months")),
            notes=rng.choice(QUALIFY_NOTES),
        )
    elif step == "recycle":
        reason = rng.choice(RECYCLE_REASONS)
        nurture_until = today + timedelta(days=rng.randint(30, 120))
        review.update(reason=reason, need_status="confirmed", need_pain=rng.choice(PAINS))
        if reason == "no_budget_now":
            review.update(
                budget_status="not_met",
                budget_notes="Budget frozen until the next fiscal year.",
                authority_status="confirmed",
                authority_role=role,
                notes=f"{info.first_name} wants to revisit when the new budget is set.",
            )
        elif reason == "bad_timing":
            review.update(
                timeline_status="confirmed",
                timeline_timeframe=rng.choice(("6_12_months", "over_12_months")),
                notes="Mid-migration to a new CRM; nothing new before that is done.",
            )
        else:  # not_ready
            review.update(
                need_status="unknown",
                need_pain="",
                authority_status="confirmed",
                authority_role=rng.choice(("influencer", "user")),
                notes="Still researching; no project and no sponsor yet.",
            )
    elif step == "disqualify":
        reason = _weighted(rng, DISQUALIFY_REASONS)
        review.update(
            reason=reason,
            need_status="not_met",
            notes={
                "not_a_fit": "Inbound volume is a handful of leads a month; they do not need scoring.",
                "bad_contact_data": "Never reached after five attempts; the number belongs to someone else.",
                "duplicate": "Same buying committee as an account already in an opportunity.",
            }[reason],
        )
    else:  # pending: a first call that left questions open
        review.update(
            need_status="confirmed",
            need_pain=rng.choice(PAINS),
            authority_status=rng.choice(("confirmed", "unknown")),
            authority_role=role,
            notes="First call done; waiting for the budget owner and their timeline.",
        )
    return review, nurture_until


# --- the summary ------------------------------------------------------------------------------


def summary(now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    stages = dict(Lead.objects.values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))
    order = [s.value for s in lifecycle.Stage]
    waiting = Lead.objects.filter(stage="mql", handed_off_at__isnull=False)
    reviews = Counter(QualificationReview.objects.values_list("outcome", flat=True))
    met = QualificationReview.objects.filter(outcome="qualify", policy_met=True).count()
    statuses = Counter(Assignment.objects.values_list("status", flat=True))
    owners = Counter(Assignment.objects.values_list("owner__username", flat=True))
    actions = Counter(StageChange.objects.values_list("action", flat=True))
    return [
        "Leads per stage: " + ", ".join(f"{s} {stages[s]}" for s in order if stages.get(s)),
        f"  MQLs handed off and waiting for their SDR: {waiting.count()}"
        f" ({waiting.filter(sla_due_at__lt=now).count()} overdue)",
        "Stage changes: " + ", ".join(f"{a} {n}" for a, n in sorted(actions.items())),
        f"BANT reviews: {sum(reviews.values())} ("
        + ", ".join(f"{o} {n}" for o, n in sorted(reviews.items()))
        + f"; {met} of {reviews['qualify']} qualifying ones meet the policy)",
        f"Assignments: {sum(statuses.values())} ("
        + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
        + "); by SDR: "
        + ", ".join(f"{u} {n}" for u, n in sorted(owners.items())),
        f"Reject reasons: {_reasons('reject')}",
        f"Recycle reasons: {_reasons('recycle')}; disqualify reasons: {_reasons('disqualify')}",
    ]


def _reasons(action: str) -> str:
    rows = (
        StageChange.objects.filter(action=action)
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by("-n", "reason")
    )
    return ", ".join(f"{r} {n}" for r, n in rows) or "none"
