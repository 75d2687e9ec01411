"""The lead lifecycle as a pure transition table: plain data in, a plan (or a refusal) out.

No Django here on purpose: the service turns a row into a `LeadState`, asks `plan()` what the
action means, and applies the returned `Transition` with a guarded update on the expected stage.
Everything in this module can be tested in milliseconds without a database.

`plan()` checks in a fixed order, because the order decides which error (and HTTP status) a
caller sees:

1. stale stage        -> `StaleStage` (409): a race loser always learns the lead moved on, even
                         if they also lacked the role or the reason; retrying cannot help them.
2. action vs. stage   -> `InvalidTransition` (400): the action does not exist from here.
3. role and ownership -> `NotAllowed` (403).
4. requirements       -> `MissingRequirement` (400, with the form field to highlight): reason
                         codes, notes, dates, the handoff owner, the BANT review.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Stage(StrEnum):
    # Values match leads.vocabulary.Stage so a row's stage converts with Stage(row.stage).
    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"


# Customer and disqualified are where a journey ends; every other stage can still be disqualified.
OPEN_STAGES: frozenset[Stage] = frozenset(Stage) - {Stage.CUSTOMER, Stage.DISQUALIFIED}


class Action(StrEnum):
    PROMOTE = "promote"
    HANDOFF = "handoff"
    ACCEPT = "accept"
    REJECT = "reject"
    QUALIFY = "qualify"
    RECYCLE = "recycle"
    DISQUALIFY = "disqualify"
    CONVERT = "convert"
    WIN = "win"
    LOSE = "lose"
    REOPEN = "reopen"


class Role(StrEnum):
    MARKETING = "marketing"
    SALES = "sales"
    ADMIN = "admin"
    SYSTEM = "system"  # the scoring engine and the routing that picks an SDR
    INTEGRATION = "integration"  # an API key


REJECT_REASONS: tuple[str, ...] = (
    "not_a_fit",
    "bad_contact_data",
    "no_interest",
    "duplicate",
    "student",
    "competitor",
    "other",
)
RECYCLE_REASONS: tuple[str, ...] = (
    "no_budget_now",
    "bad_timing",
    "no_response",
    "not_ready",
    "other",
)
DISQUALIFY_REASONS: tuple[str, ...] = (
    "not_a_fit",
    "competitor",
    "student",
    "duplicate",
    "bad_contact_data",
    "lost",
    "spam",
    "other",
)
# "other" tells analytics nothing by itself, so it must come with a note that does.
REASON_NEEDING_NOTE = "other"


# --- BANT and the qualification policy ------------------------------------------------------


class Status(StrEnum):
    CONFIRMED = "confirmed"
    UNKNOWN = "unknown"
    NOT_MET = "not_met"


AUTHORITY_ROLES: tuple[str, ...] = ("decision_maker", "influencer", "champion", "user", "unknown")
# Ordered from soonest to latest; the bound is the most months the answer allows. "unknown" gets
# infinity so that no month limit is ever satisfied by a timeframe nobody asked about.
TIMEFRAMES: tuple[str, ...] = (
    "under_1_month",
    "1_3_months",
    "3_6_months",
    "6_12_months",
    "over_12_months",
    "unknown",
)
TIMEFRAME_MONTHS: Mapping[str, float] = MappingProxyType(
    {
        "under_1_month": 1,
        "1_3_months": 3,
        "3_6_months": 6,
        "6_12_months": 12,
        "over_12_months": math.inf,
        "unknown": math.inf,
    }
)
TIMEFRAME_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "under_1_month": "under 1 month",
        "1_3_months": "1–3 months",
        "3_6_months": "3–6 months",
        "6_12_months": "6–12 months",
        "over_12_months": "over 12 months",
        "unknown": "unknown",
    }
)
REVIEW_OUTCOMES: tuple[str, ...] = ("qualify", "recycle", "disqualify", "pending")
CRITERIA: tuple[str, ...] = ("budget", "authority", "need", "timeline")
CRITERION_LABELS: Mapping[str, str] = MappingProxyType(
    {"budget": "Budget", "authority": "Authority", "need": "Need", "timeline": "Timeline"}
)


def _check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True)
class BantReview:
    """What the SDR recorded on the qualification call; statuses accept plain strings."""

    budget_status: Status = Status.UNKNOWN
    budget_amount: Decimal | None = None
    authority_status: Status = Status.UNKNOWN
    authority_role: str = "unknown"
    need_status: Status = Status.UNKNOWN
    need_pain: str = ""
    timeline_status: Status = Status.UNKNOWN
    timeline_timeframe: str = "unknown"
    outcome: str = "pending"

    def __post_init__(self) -> None:
        # Coerce so that a review built from form or JSON strings compares like one built in code.
        for name in ("budget_status", "authority_status", "need_status", "timeline_status"):
            value = getattr(self, name)
            _check_choice(name, value, Status)
            object.__setattr__(self, name, Status(value))
        _check_choice("authority_role", self.authority_role, AUTHORITY_ROLES)
        _check_choice("timeline_timeframe", self.timeline_timeframe, TIMEFRAMES)
        _check_choice("outcome", self.outcome, REVIEW_OUTCOMES)

    def status(self, criterion: str) -> Status:
        return getattr(self, f"{criterion}_status")


@dataclass(frozen=True)
class QualificationPolicy:
    """Marketing and sales agree on this once; it decides whether a BANT review is an SQL."""

    # Criteria that must be confirmed whatever the count says.
    required: frozenset[str] = frozenset({"need", "authority"})
    # At least this many of the four must be confirmed.
    min_confirmed: int = 3
    # When set, the timeline must be confirmed with a timeframe ending within this many months.
    max_timeline_months: int | None = 6
    # Authority only counts when the confirmed contact holds one of these roles.
    authority_roles: frozenset[str] = frozenset({"decision_maker", "champion"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", frozenset(self.required))
        object.__setattr__(self, "authority_roles", frozenset(self.authority_roles))
        unknown = self.required - set(CRITERIA)
        if unknown:
            raise ValueError(f"required has unknown criteria {sorted(unknown)}; use {', '.join(CRITERIA)}")
        unknown = self.authority_roles - set(AUTHORITY_ROLES)
        if unknown:
            raise ValueError(
                f"authority_roles has unknown roles {sorted(unknown)}; use {', '.join(AUTHORITY_ROLES)}"
            )
        # bool is an int in Python; a stored `true` is a bug, not "1 criterion".
        if (
            not isinstance(self.min_confirmed, int)
            or isinstance(self.min_confirmed, bool)
            or not 0 <= self.min_confirmed <= len(CRITERIA)
        ):
            raise ValueError(f"min_confirmed must be an integer from 0 to {len(CRITERIA)}")
        months = self.max_timeline_months
        if months is not None and (not isinstance(months, int) or isinstance(months, bool) or months < 1):
            raise ValueError("max_timeline_months must be a positive integer or null")

    def to_dict(self) -> dict[str, Any]:
        # Sorted lists so the stored JSON is stable and diffs cleanly between versions.
        return {
            "required": sorted(self.required),
            "min_confirmed": self.min_confirmed,
            "max_timeline_months": self.max_timeline_months,
            "authority_roles": sorted(self.authority_roles),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualificationPolicy:
        # A misspelt key silently falling back to a default would loosen the policy unnoticed.
        allowed = {f.name for f in fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown policy keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
        kwargs: dict[str, Any] = dict(data)
        for key in ("required", "authority_roles"):
            if key in kwargs:
                value = kwargs[key]
                if isinstance(value, str) or not isinstance(value, Iterable):
                    raise ValueError(f"{key} must be a list of strings")
                kwargs[key] = frozenset(value)
        return cls(**kwargs)


@dataclass(frozen=True)
class PolicyResult:
    met: bool
    missing: tuple[str, ...]  # human-readable, in BANT order, ready to show on the review screen
    confirmed: tuple[str, ...]  # the criteria that counted as confirmed under the policy


def _counts_as_confirmed(review: BantReview, criterion: str, policy: QualificationPolicy) -> bool:
    if review.status(criterion) is not Status.CONFIRMED:
        return False
    if criterion == "authority":
        return review.authority_role in policy.authority_roles
    return True


def _role_list(roles: Iterable[str]) -> str:
    # In AUTHORITY_ROLES order so the message reads "decision maker or champion" every time.
    names = [r.replace("_", " ") for r in AUTHORITY_ROLES if r in set(roles)]
    if len(names) <= 1:
        return "".join(names) or "no role"
    return ", ".join(names[:-1]) + " or " + names[-1]


def evaluate_policy(review: BantReview, policy: QualificationPolicy | None = None) -> PolicyResult:
    policy = DEFAULT_POLICY if policy is None else policy
    missing: list[str] = []
    confirmed = tuple(c for c in CRITERIA if _counts_as_confirmed(review, c, policy))

    for criterion in CRITERIA:
        label = CRITERION_LABELS[criterion]
        status = review.status(criterion)
        # A timeline limit makes the timeline required: no limit can be checked against a
        # timeframe nobody confirmed.
        required = criterion in policy.required or (
            criterion == "timeline" and policy.max_timeline_months is not None
        )
        if not required:
            continue
        if status is Status.NOT_MET:
            missing.append(f"{label} is not met")
        elif status is Status.UNKNOWN:
            missing.append(f"{label} is not confirmed")
        elif criterion == "authority" and criterion not in confirmed:
            missing.append(
                f"Authority is confirmed as {review.authority_role.replace('_', ' ')}, "
                f"not {_role_list(policy.authority_roles)}"
            )
        elif criterion == "timeline" and policy.max_timeline_months is not None:
            frame = review.timeline_timeframe
            if frame == "unknown":
                missing.append("Timeline timeframe is unknown")
            elif TIMEFRAME_MONTHS[frame] > policy.max_timeline_months:
                missing.append(
                    f"Timeline is over {policy.max_timeline_months} months ({TIMEFRAME_LABELS[frame]})"
                )

    if len(confirmed) < policy.min_confirmed:
        missing.append(
            f"Only {len(confirmed)} of {len(CRITERIA)} BANT criteria confirmed "
            f"({policy.min_confirmed} needed)"
        )
    return PolicyResult(met=not missing, missing=tuple(missing), confirmed=confirmed)


DEFAULT_POLICY = QualificationPolicy()


# --- The transition table -------------------------------------------------------------------


def _with_admin(*roles: Role) -> frozenset[Role]:
    # Admin may do whatever marketing or sales may, never what only the machines do.
    granted = frozenset(roles)
    if granted & {Role.MARKETING, Role.SALES}:
        granted |= {Role.ADMIN}
    return granted


@dataclass(frozen=True)
class ActionSpec:
    label: str  # the button's visible name
    from_stages: frozenset[Stage]
    to_stage: Stage
    roles: frozenset[Role]  # admin already included where it applies
    # Accept and reject belong to the SDR the lead was handed to (admin excepted).
    must_be_owner: bool = False
    # True: only a handed-off MQL; False: only one not yet handed off; None: either.
    needs_handed_off: bool | None = None
    # Allowed reason codes; empty means the action takes no reason.
    reasons: tuple[str, ...] = ()
    reason_required: bool = False
    default_reason: str = ""
    # The request fields a form must collect, for pages and API docs.
    requires: tuple[str, ...] = ()


ACTIONS: Mapping[Action, ActionSpec] = MappingProxyType(
    {
        Action.PROMOTE: ActionSpec(
            label="Promote to MQL",
            from_stages=frozenset({Stage.SUBSCRIBER, Stage.LEAD, Stage.RECYCLED}),
            to_stage=Stage.MQL,
            roles=_with_admin(Role.SYSTEM, Role.MARKETING),
        ),
        Action.HANDOFF: ActionSpec(
            label="Hand off",
            from_stages=frozenset({Stage.MQL}),
            to_stage=Stage.MQL,
            # Routing may make the first assignment; re-assigning is marketing's call (see
            # _roles_for), so an automatic rerun never steals a lead from an SDR.
            roles=_with_admin(Role.MARKETING, Role.SYSTEM),
            requires=("owner",),
        ),
        Action.ACCEPT: ActionSpec(
            label="Accept",
            from_stages=frozenset({Stage.MQL}),
            to_stage=Stage.SAL,
            roles=_with_admin(Role.SALES),
            must_be_owner=True,
            needs_handed_off=True,
        ),
        Action.REJECT: ActionSpec(
            label="Reject",
            from_stages=frozenset({Stage.MQL}),
            to_stage=Stage.RECYCLED,
            roles=_with_admin(Role.SALES),
            must_be_owner=True,
            needs_handed_off=True,
            reasons=REJECT_REASONS,
            reason_required=True,
            requires=("reason",),
        ),
        Action.QUALIFY: ActionSpec(
            label="Qualify",
            from_stages=frozenset({Stage.SAL}),
            to_stage=Stage.SQL,
            roles=_with_admin(Role.SALES),
            requires=("bant",),
        ),
        Action.RECYCLE: ActionSpec(
            label="Recycle",
            from_stages=frozenset({Stage.SAL}),
            to_stage=Stage.RECYCLED,
            roles=_with_admin(Role.SALES),
            reasons=RECYCLE_REASONS,
            reason_required=True,
            requires=("reason", "nurture_until"),
        ),
        Action.DISQUALIFY: ActionSpec(
            label="Disqualify",
            from_stages=OPEN_STAGES,
            to_stage=Stage.DISQUALIFIED,
            roles=_with_admin(Role.SALES, Role.MARKETING),
            reasons=DISQUALIFY_REASONS,
            reason_required=True,
            requires=("reason",),
        ),
        Action.CONVERT: ActionSpec(
            label="Convert to opportunity",
            from_stages=frozenset({Stage.SQL}),
            to_stage=Stage.OPPORTUNITY,
            roles=_with_admin(Role.SALES, Role.INTEGRATION),
        ),
        Action.WIN: ActionSpec(
            label="Mark won",
            from_stages=frozenset({Stage.OPPORTUNITY}),
            to_stage=Stage.CUSTOMER,
            roles=_with_admin(Role.SALES, Role.INTEGRATION),
        ),
        Action.LOSE: ActionSpec(
            label="Mark lost",
            from_stages=frozenset({Stage.SQL, Stage.OPPORTUNITY}),
            to_stage=Stage.DISQUALIFIED,
            roles=_with_admin(Role.SALES, Role.INTEGRATION),
            # Lost deals land in disqualified, so their reasons share that report.
            reasons=DISQUALIFY_REASONS,
            default_reason="lost",
        ),
        Action.REOPEN: ActionSpec(
            label="Reopen",
            from_stages=frozenset({Stage.DISQUALIFIED}),
            to_stage=Stage.LEAD,
            roles=_with_admin(Role.MARKETING),
            requires=("note",),
        ),
    }
)


@dataclass(frozen=True)
class LeadState:
    stage: Stage
    owner_id: int | None = None
    handed_off: bool = False  # True once an SDR is assigned in mql

    def __post_init__(self) -> None:
        # The service hands over row values; a bad stage string should fail here, loudly.
        object.__setattr__(self, "stage", Stage(self.stage))


@dataclass(frozen=True)
class ActionRequest:
    action: Action
    actor_id: int | None
    roles: frozenset[Role]
    expected_stage: Stage | None  # the stage the actor saw; None = don't check (system only)
    reason: str = ""
    note: str = ""
    owner_id: int | None = None  # handoff target
    nurture_until: date | None = None
    today: date | None = None  # to validate nurture_until is in the future
    bant: BantReview | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "roles", frozenset(Role(r) for r in self.roles))
        if self.expected_stage is not None:
            object.__setattr__(self, "expected_stage", Stage(self.expected_stage))


@dataclass(frozen=True)
class Transition:
    """The plan the service applies: the row's new stage, owner and handed-off flag."""

    action: Action
    from_stage: Stage
    to_stage: Stage
    owner_id: int | None
    handed_off: bool
    reason: str
    note: str


class TransitionError(Exception):
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class StaleStage(TransitionError):
    code = "stale"


class NotAllowed(TransitionError):
    code = "forbidden"


class InvalidTransition(TransitionError):
    code = "invalid"


class MissingRequirement(TransitionError):
    code = "required"


def _roles_for(spec: ActionSpec, action: Action, state: LeadState) -> frozenset[Role]:
    if action is Action.HANDOFF and state.handed_off:
        # Re-handoff takes a lead away from an SDR who may be mid-call: a human decision.
        return spec.roles - {Role.SYSTEM}
    return spec.roles


def _applies(spec: ActionSpec, state: LeadState) -> bool:
    if state.stage not in spec.from_stages:
        return False
    return spec.needs_handed_off is None or spec.needs_handed_off == state.handed_off


def _permitted(
    spec: ActionSpec, action: Action, state: LeadState, roles: frozenset[Role], actor_id: int | None
) -> bool:
    granted = _roles_for(spec, action, state) & roles
    if not granted:
        return False
    if not spec.must_be_owner or Role.ADMIN in granted:
        return True
    return actor_id is not None and actor_id == state.owner_id


def allowed_actions(state: LeadState, roles: Iterable[Role], actor_id: int | None) -> list[Action]:
    """The buttons a page should show: stage and role checks only, requirements excluded."""
    roles = frozenset(roles)
    return [
        action
        for action, spec in ACTIONS.items()
        if _applies(spec, state) and _permitted(spec, action, state, roles, actor_id)
    ]


def _check_reason(spec: ActionSpec, request: ActionRequest) -> str:
    reason = request.reason.strip()
    if not spec.reasons:
        return ""
    if not reason:
        if spec.reason_required:
            raise MissingRequirement(
                f"a reason is required: one of {', '.join(spec.reasons)}", field="reason"
            )
        return spec.default_reason
    if reason not in spec.reasons:
        raise MissingRequirement(
            f"{reason!r} is not a reason for {spec.label.lower()}; use one of {', '.join(spec.reasons)}",
            field="reason",
        )
    if reason == REASON_NEEDING_NOTE and not request.note.strip():
        raise MissingRequirement('a note is required when the reason is "other"', field="note")
    return reason


def _check_requirements(action: Action, request: ActionRequest, policy: QualificationPolicy) -> None:
    if action is Action.HANDOFF and request.owner_id is None:
        # The service asks routing for an SDR before planning; no owner here means none was found.
        raise MissingRequirement("a handoff needs an SDR to own the lead", field="owner")
    if action is Action.RECYCLE:
        if request.nurture_until is None:
            raise MissingRequirement("a nurture-until date is required", field="nurture_until")
        if request.today is not None and request.nurture_until <= request.today:
            raise MissingRequirement("nurture-until must be in the future", field="nurture_until")
    if action is Action.REOPEN and not request.note.strip():
        raise MissingRequirement("a note is required to reopen a lead", field="note")
    if action is Action.QUALIFY:
        if request.bant is None:
            raise MissingRequirement("a BANT review is required to qualify", field="bant")
        if request.bant.outcome in ("recycle", "disqualify"):
            # The SDR's own verdict on the call contradicts the button they pressed.
            raise MissingRequirement(
                f"the BANT review's outcome is {request.bant.outcome}, not qualify", field="bant"
            )
        result = evaluate_policy(request.bant, policy)
        if not result.met:
            raise MissingRequirement("; ".join(result.missing), field="bant")


def plan(
    state: LeadState, request: ActionRequest, policy: QualificationPolicy = DEFAULT_POLICY
) -> Transition:
    """Decide what `request` does to a lead in `state`, or raise the first failed check.

    Checks run stale -> invalid -> forbidden -> required (see the module docstring for why).
    """
    action = request.action
    spec = ACTIONS[action]
    roles = request.roles

    # 1. The stage the actor saw. Only the system may skip it: it acts on the row it just read
    # under lock, while a person acts on a page that may be minutes old.
    if request.expected_stage is None:
        if Role.SYSTEM not in roles:
            raise MissingRequirement(
                "expected_stage is required so a stale page cannot move the lead",
                field="expected_stage",
            )
    elif request.expected_stage != state.stage:
        raise StaleStage(f"this lead is now {state.stage}, not {request.expected_stage}")

    # 2. Does the action exist from here?
    if not _applies(spec, state):
        if state.stage is Stage.MQL and spec.needs_handed_off:
            detail = "it has not been handed off yet"
        else:
            detail = f"it is {state.stage}"
        raise InvalidTransition(f"cannot {spec.label.lower()} this lead: {detail}")

    # 3. Who may.
    if not _permitted(spec, action, state, roles, request.actor_id):
        if spec.must_be_owner and _roles_for(spec, action, state) & roles:
            raise NotAllowed(f"only the SDR who owns this lead may {spec.label.lower()} it")
        raise NotAllowed(f"your role may not {spec.label.lower()} this lead")

    # 4. What the action must carry.
    reason = _check_reason(spec, request)
    _check_requirements(action, request, policy)

    owner_id = state.owner_id
    handed_off = state.handed_off
    if action is Action.HANDOFF:
        owner_id, handed_off = request.owner_id, True
    elif action in (Action.REJECT, Action.REOPEN):
        # The SDR gave the lead back / the lead starts over: nobody owns it now.
        owner_id, handed_off = None, False
    elif action is Action.RECYCLE:
        # Keep the owner for reporting ("who recycled it"); the next handoff replaces it.
        handed_off = False

    return Transition(
        action=action,
        from_stage=state.stage,
        to_stage=spec.to_stage,
        owner_id=owner_id,
        handed_off=handed_off,
        reason=reason,
        note=request.note.strip(),
    )
