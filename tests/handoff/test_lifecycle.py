"""The stage machine, without a database.

The expectations below are written out by hand from PRODUCT.md's lifecycle table rather than read
from `handoff.lifecycle.ACTIONS`, so a typo in the module's table fails here instead of being
copied into the test.
"""

import itertools
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.lifecycle import (
    ACTIONS,
    DEFAULT_POLICY,
    OPEN_STAGES,
    Action,
    ActionRequest,
    BantReview,
    InvalidTransition,
    LeadState,
    MissingRequirement,
    NotAllowed,
    QualificationPolicy,
    Role,
    Stage,
    StaleStage,
    Status,
    TransitionError,
    allowed_actions,
    evaluate_policy,
    plan,
)

TODAY = date(2025, 3, 3)
OWNER = 7  # the SDR the lead is handed to
OTHER_SDR = 8
NEW_OWNER = 9  # the handoff target

# --- the independent expectation table -----------------------------------------------------
# Situations are stages, except that an MQL is two situations: before and after handoff
# ("mql*" = handed off to OWNER).
SITUATIONS = {
    "subscriber": LeadState(Stage.SUBSCRIBER),
    "lead": LeadState(Stage.LEAD),
    "mql": LeadState(Stage.MQL),
    "mql*": LeadState(Stage.MQL, owner_id=OWNER, handed_off=True),
    "sal": LeadState(Stage.SAL, owner_id=OWNER, handed_off=True),
    "sql": LeadState(Stage.SQL, owner_id=OWNER, handed_off=True),
    "opportunity": LeadState(Stage.OPPORTUNITY, owner_id=OWNER, handed_off=True),
    "customer": LeadState(Stage.CUSTOMER, owner_id=OWNER, handed_off=True),
    "recycled": LeadState(Stage.RECYCLED, owner_id=OWNER),
    "disqualified": LeadState(Stage.DISQUALIFIED, owner_id=OWNER),
}
OPEN = {"subscriber", "lead", "mql", "mql*", "sal", "sql", "opportunity", "recycled"}
SALES_SIDE = {"sales", "admin"}
# action: (situations it applies from, stage it lands in, roles that may take it)
EXPECTED = {
    "promote": ({"subscriber", "lead", "recycled"}, "mql", {"system", "marketing", "admin"}),
    "handoff": ({"mql", "mql*"}, "mql", {"marketing", "system", "admin"}),
    "accept": ({"mql*"}, "sal", SALES_SIDE),
    "reject": ({"mql*"}, "recycled", SALES_SIDE),
    "qualify": ({"sal"}, "sql", SALES_SIDE),
    "recycle": ({"sal"}, "recycled", SALES_SIDE),
    "disqualify": (OPEN, "disqualified", {"sales", "marketing", "admin"}),
    "convert": ({"sql"}, "opportunity", {"sales", "integration", "admin"}),
    "win": ({"opportunity"}, "customer", {"sales", "integration", "admin"}),
    "lose": ({"sql", "opportunity"}, "disqualified", {"sales", "integration", "admin"}),
    "reopen": ({"disqualified"}, "lead", {"marketing", "admin"}),
}
# Re-assigning a handed-off MQL is a person's decision, not routing's.
ROLE_OVERRIDES = {("handoff", "mql*"): {"marketing", "admin"}}


def expected_outcome(situation: str, action: str, role: str) -> str | type[TransitionError]:
    sources, target, roles = EXPECTED[action]
    if situation not in sources:
        return InvalidTransition
    if role not in ROLE_OVERRIDES.get((action, situation), roles):
        return NotAllowed
    return target


GOOD_REVIEW = BantReview(
    budget_status=Status.CONFIRMED,
    budget_amount=Decimal("25000"),
    authority_status=Status.CONFIRMED,
    authority_role="decision_maker",
    need_status=Status.CONFIRMED,
    need_pain="manual lead routing",
    timeline_status=Status.CONFIRMED,
    timeline_timeframe="1_3_months",
    outcome="qualify",
)


def full_request(action, state, roles, **overrides) -> ActionRequest:
    """A request carrying every requirement, so only stage, role and ownership decide."""
    values = dict(
        action=action,
        actor_id=OWNER,
        roles=frozenset(roles),
        expected_stage=state.stage,
        reason="other",  # the one code every reason list shares; it needs the note below
        note="spoke to them twice",
        owner_id=NEW_OWNER,
        nurture_until=TODAY + timedelta(days=30),
        today=TODAY,
        bant=GOOD_REVIEW,
    )
    values.update(overrides)
    return ActionRequest(**values)


def test_expectation_table_covers_every_stage_action_and_role():
    # Guards the exhaustive test: a new enum member must get an explicit expectation.
    assert {s.stage.value for s in SITUATIONS.values()} == {s.value for s in Stage}
    assert set(EXPECTED) == {a.value for a in Action}
    assert {r for _, _, roles in EXPECTED.values() for r in roles} == {r.value for r in Role}
    assert {s.value for s in OPEN_STAGES} == {SITUATIONS[s].stage.value for s in OPEN}


def outcome_of(state: LeadState, action: Action, role: Role) -> str | type[TransitionError]:
    try:
        transition = plan(state, full_request(action, state, {role}))
    except TransitionError as error:
        # Exact class: a NotAllowed must not pass for an InvalidTransition or vice versa.
        return type(error)
    assert (transition.action, transition.from_stage) == (action, state.stage)
    return transition.to_stage.value


# One test per situation, looping over action x role inside: the same 550 cases as one item each,
# but without 550 items of pytest overhead, and a failure lists every wrong cell at once.
@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_stage_action_and_role(situation):
    state = SITUATIONS[situation]
    wrong = []
    for action, role in itertools.product(Action, Role):
        want = expected_outcome(situation, action.value, role.value)
        got = outcome_of(state, action, role)
        if got != want:
            wrong.append((action.value, role.value, got, want))
    assert wrong == []


def test_allowed_actions_match_the_expectation_table_for_the_owner():
    mismatches = []
    for situation, role in itertools.product(SITUATIONS, Role):
        got = allowed_actions(SITUATIONS[situation], {role}, OWNER)
        want = [a for a in Action if isinstance(expected_outcome(situation, a.value, role.value), str)]
        if got != want:
            mismatches.append((situation, role.value, got, want))
    assert mismatches == []


# --- order of checks ------------------------------------------------------------------------


def test_stale_stage_wins_over_a_wrong_role():
    state = LeadState(Stage.SAL, owner_id=OWNER, handed_off=True)
    request = full_request(Action.ACCEPT, state, {Role.INTEGRATION}, expected_stage=Stage.MQL)

    with pytest.raises(StaleStage) as raised:
        plan(state, request)

    assert raised.value.code == "stale"
    assert raised.value.message == "this lead is now sal, not mql"


def test_stale_stage_wins_over_a_missing_reason():
    state = LeadState(Stage.RECYCLED, owner_id=OWNER)
    request = full_request(Action.REJECT, state, {Role.SALES}, expected_stage=Stage.MQL, reason="", note="")

    with pytest.raises(StaleStage):
        plan(state, request)


def test_invalid_transition_wins_over_a_wrong_role():
    state = SITUATIONS["sal"]

    with pytest.raises(InvalidTransition) as raised:
        plan(state, full_request(Action.ACCEPT, state, {Role.INTEGRATION}))

    assert raised.value.code == "invalid"


def test_wrong_role_wins_over_a_missing_reason():
    state = SITUATIONS["mql*"]
    request = full_request(Action.REJECT, state, {Role.MARKETING}, reason="")

    with pytest.raises(NotAllowed) as raised:
        plan(state, request)

    assert raised.value.code == "forbidden"


def test_accepting_an_mql_that_was_not_handed_off_is_invalid():
    state = SITUATIONS["mql"]

    with pytest.raises(InvalidTransition, match="not been handed off"):
        plan(state, full_request(Action.ACCEPT, state, {Role.SALES}))


def test_only_the_system_may_skip_the_stage_check():
    state = SITUATIONS["lead"]
    assert plan(state, full_request(Action.PROMOTE, state, {Role.SYSTEM}, expected_stage=None))

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.PROMOTE, state, {Role.MARKETING}, expected_stage=None))
    assert raised.value.field == "expected_stage"


# --- ownership ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [Action.ACCEPT, Action.REJECT])
def test_an_sdr_who_does_not_own_the_lead_may_not_accept_or_reject(action):
    state = SITUATIONS["mql*"]

    with pytest.raises(NotAllowed, match="owns this lead"):
        plan(state, full_request(action, state, {Role.SALES}, actor_id=OTHER_SDR))


def test_an_sdr_without_an_id_is_never_the_owner():
    state = SITUATIONS["mql*"]

    with pytest.raises(NotAllowed):
        plan(state, full_request(Action.ACCEPT, state, {Role.SALES}, actor_id=None))


@pytest.mark.parametrize(
    ("action", "to_stage"), [(Action.ACCEPT, Stage.SAL), (Action.REJECT, Stage.RECYCLED)]
)
def test_an_admin_may_accept_or_reject_without_owning_the_lead(action, to_stage):
    state = SITUATIONS["mql*"]
    request = full_request(action, state, {Role.ADMIN}, actor_id=OTHER_SDR)

    assert plan(state, request).to_stage == to_stage


def test_admin_must_still_carry_the_requirements():
    state = SITUATIONS["mql*"]
    request = full_request(Action.REJECT, state, {Role.ADMIN}, actor_id=OTHER_SDR, reason="")

    with pytest.raises(MissingRequirement) as raised:
        plan(state, request)
    assert raised.value.field == "reason"


def test_any_sdr_may_disqualify_a_lead_they_do_not_own():
    state = SITUATIONS["mql*"]
    request = full_request(Action.DISQUALIFY, state, {Role.SALES}, actor_id=OTHER_SDR)

    assert plan(state, request).to_stage == Stage.DISQUALIFIED


# --- what a transition does to owner and handoff ---------------------------------------------


def test_handoff_assigns_the_owner_and_starts_the_sla():
    state = SITUATIONS["mql"]
    transition = plan(state, full_request(Action.HANDOFF, state, {Role.SYSTEM}))

    assert (transition.owner_id, transition.handed_off) == (NEW_OWNER, True)


def test_marketing_may_reassign_a_handed_off_lead():
    state = SITUATIONS["mql*"]
    transition = plan(state, full_request(Action.HANDOFF, state, {Role.MARKETING}))

    assert (transition.to_stage, transition.owner_id) == (Stage.MQL, NEW_OWNER)


def test_accept_keeps_the_owner():
    state = SITUATIONS["mql*"]
    transition = plan(state, full_request(Action.ACCEPT, state, {Role.SALES}))

    assert (transition.owner_id, transition.handed_off) == (OWNER, True)


def test_reject_gives_the_lead_back_without_an_owner():
    state = SITUATIONS["mql*"]
    transition = plan(state, full_request(Action.REJECT, state, {Role.SALES}, reason="student"))

    assert (transition.owner_id, transition.handed_off) == (None, False)
    assert transition.reason == "student"


def test_recycle_keeps_the_owner_for_reporting_but_ends_the_handoff():
    state = SITUATIONS["sal"]
    request = full_request(Action.RECYCLE, state, {Role.SALES}, reason="bad_timing")
    transition = plan(state, request)

    assert (transition.owner_id, transition.handed_off) == (OWNER, False)


def test_disqualify_keeps_the_owner_for_reporting():
    state = SITUATIONS["sql"]
    request = full_request(Action.DISQUALIFY, state, {Role.MARKETING}, reason="spam")

    assert plan(state, request).owner_id == OWNER


def test_reopen_starts_over_without_an_owner():
    state = SITUATIONS["disqualified"]
    transition = plan(state, full_request(Action.REOPEN, state, {Role.MARKETING}))

    assert (transition.to_stage, transition.owner_id, transition.handed_off) == (
        Stage.LEAD,
        None,
        False,
    )
    assert transition.note == "spoke to them twice"


def test_lose_defaults_the_reason_to_lost():
    state = SITUATIONS["opportunity"]
    request = full_request(Action.LOSE, state, {Role.INTEGRATION}, reason="", note="")

    assert plan(state, request).reason == "lost"


def test_lose_still_checks_a_given_reason():
    state = SITUATIONS["sql"]
    request = full_request(Action.LOSE, state, {Role.SALES}, reason="too_expensive")

    with pytest.raises(MissingRequirement) as raised:
        plan(state, request)
    assert raised.value.field == "reason"


def test_actions_without_reason_codes_do_not_record_one():
    state = SITUATIONS["sal"]

    assert plan(state, full_request(Action.QUALIFY, state, {Role.SALES})).reason == ""


def test_plain_strings_from_rows_and_forms_are_accepted():
    state = LeadState("mql", owner_id=OWNER, handed_off=True)
    request = ActionRequest(action="accept", actor_id=OWNER, roles={"sales"}, expected_stage="mql")

    assert plan(state, request).to_stage is Stage.SAL


# --- requirements ---------------------------------------------------------------------------

REJECT_CODES = [
    "not_a_fit",
    "bad_contact_data",
    "no_interest",
    "duplicate",
    "student",
    "competitor",
    "other",
]


def test_reject_requires_a_reason():
    state = SITUATIONS["mql*"]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.REJECT, state, {Role.SALES}, reason="   "))

    assert raised.value.code == "required"
    assert raised.value.field == "reason"
    assert all(code in raised.value.message for code in REJECT_CODES)


def test_an_unknown_reason_code_lists_the_allowed_codes():
    state = SITUATIONS["mql*"]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.REJECT, state, {Role.SALES}, reason="busy"))

    assert raised.value.field == "reason"
    assert "'busy'" in raised.value.message
    assert all(code in raised.value.message for code in REJECT_CODES)


def test_a_reason_from_another_action_is_refused():
    state = SITUATIONS["sal"]
    request = full_request(Action.RECYCLE, state, {Role.SALES}, reason="student")

    with pytest.raises(MissingRequirement) as raised:
        plan(state, request)
    assert raised.value.field == "reason"
    assert "no_budget_now" in raised.value.message


@pytest.mark.parametrize(
    ("situation", "action"),
    [("mql*", Action.REJECT), ("sal", Action.RECYCLE), ("lead", Action.DISQUALIFY)],
)
def test_other_needs_a_note(situation, action):
    state = SITUATIONS[situation]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(action, state, {Role.SALES, Role.MARKETING}, note=" "))
    assert raised.value.field == "note"


def test_disqualify_requires_a_reason():
    state = SITUATIONS["lead"]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.DISQUALIFY, state, {Role.MARKETING}, reason=""))
    assert raised.value.field == "reason"
    assert "spam" in raised.value.message


def test_recycle_requires_a_nurture_until_date():
    state = SITUATIONS["sal"]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.RECYCLE, state, {Role.SALES}, nurture_until=None))
    assert raised.value.field == "nurture_until"


@pytest.mark.parametrize("days", [0, -1])
def test_nurture_until_must_be_in_the_future(days):
    state = SITUATIONS["sal"]
    request = full_request(Action.RECYCLE, state, {Role.SALES}, nurture_until=TODAY + timedelta(days=days))

    with pytest.raises(MissingRequirement) as raised:
        plan(state, request)
    assert raised.value.field == "nurture_until"


def test_nurture_until_is_not_compared_when_today_is_not_given():
    state = SITUATIONS["sal"]
    request = full_request(Action.RECYCLE, state, {Role.SALES}, nurture_until=TODAY, today=None)

    assert plan(state, request).to_stage == Stage.RECYCLED


@pytest.mark.parametrize("note", ["", "  \n"])
def test_reopen_requires_a_note(note):
    state = SITUATIONS["disqualified"]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.REOPEN, state, {Role.MARKETING}, note=note))
    assert raised.value.field == "note"


def test_handoff_requires_an_owner():
    state = SITUATIONS["mql"]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.HANDOFF, state, {Role.MARKETING}, owner_id=None))
    assert raised.value.field == "owner"


def test_qualify_requires_a_bant_review():
    state = SITUATIONS["sal"]

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.QUALIFY, state, {Role.SALES}, bant=None))
    assert raised.value.field == "bant"


def test_qualify_refuses_a_review_that_misses_the_policy_and_says_why():
    state = SITUATIONS["sal"]
    weak = replace(GOOD_REVIEW, need_status=Status.UNKNOWN, timeline_timeframe="6_12_months")

    with pytest.raises(MissingRequirement) as raised:
        plan(state, full_request(Action.QUALIFY, state, {Role.SALES}, bant=weak))

    assert raised.value.field == "bant"
    assert "Need is not confirmed" in raised.value.message
    assert "Timeline is over 6 months" in raised.value.message


def test_qualify_uses_the_policy_it_is_given():
    state = SITUATIONS["sal"]
    slow = replace(GOOD_REVIEW, timeline_timeframe="over_12_months")
    request = full_request(Action.QUALIFY, state, {Role.SALES}, bant=slow)
    patient = QualificationPolicy(max_timeline_months=None)

    assert plan(state, request, patient).to_stage == Stage.SQL
    with pytest.raises(MissingRequirement):
        plan(state, request)


def test_qualify_refuses_a_review_whose_outcome_says_otherwise():
    state = SITUATIONS["sal"]
    review = replace(GOOD_REVIEW, outcome="recycle")

    with pytest.raises(MissingRequirement, match="outcome is recycle"):
        plan(state, full_request(Action.QUALIFY, state, {Role.SALES}, bant=review))


# --- the qualification policy ---------------------------------------------------------------


def review(**statuses) -> BantReview:
    """A review with everything unknown except what the test confirms."""
    values = {f"{name}_status": status for name, status in statuses.items()}
    return BantReview(authority_role="decision_maker", timeline_timeframe="3_6_months", **values)


def test_need_authority_and_a_near_timeline_qualify():
    result = evaluate_policy(
        review(need="confirmed", authority="confirmed", timeline="confirmed"), DEFAULT_POLICY
    )

    assert result.met
    assert result.missing == ()
    assert result.confirmed == ("authority", "need", "timeline")


def test_two_of_four_confirmed_is_not_enough():
    # Loosen everything else so only the count can fail.
    policy = QualificationPolicy(required=frozenset(), max_timeline_months=None)
    result = evaluate_policy(review(need="confirmed", budget="confirmed"), policy)

    assert not result.met
    assert result.missing == ("Only 2 of 4 BANT criteria confirmed (3 needed)",)


def test_a_timeline_over_twelve_months_is_reported():
    slow = replace(GOOD_REVIEW, timeline_timeframe="over_12_months")
    result = evaluate_policy(slow, DEFAULT_POLICY)

    assert not result.met
    assert result.missing == ("Timeline is over 6 months (over 12 months)",)


def test_an_unknown_timeline_fails_a_month_limit():
    result = evaluate_policy(replace(GOOD_REVIEW, timeline_status=Status.UNKNOWN), DEFAULT_POLICY)

    assert result.missing == ("Timeline is not confirmed",)


def test_authority_confirmed_as_a_user_does_not_count():
    user = replace(GOOD_REVIEW, authority_role="user", budget_status=Status.UNKNOWN)
    result = evaluate_policy(user, DEFAULT_POLICY)

    assert "authority" not in result.confirmed
    assert result.missing == (
        "Authority is confirmed as user, not decision maker or champion",
        "Only 2 of 4 BANT criteria confirmed (3 needed)",
    )


def test_a_required_criterion_that_is_not_met_is_reported_as_such():
    result = evaluate_policy(replace(GOOD_REVIEW, need_status=Status.NOT_MET), DEFAULT_POLICY)

    assert result.missing == ("Need is not met",)


def test_budget_is_optional_under_the_default_policy():
    result = evaluate_policy(replace(GOOD_REVIEW, budget_status=Status.NOT_MET), DEFAULT_POLICY)

    assert result.met


def test_policy_round_trips_through_a_dict():
    policy = QualificationPolicy(
        required=frozenset({"budget", "need"}),
        min_confirmed=2,
        max_timeline_months=12,
        authority_roles=frozenset({"decision_maker"}),
    )
    stored = policy.to_dict()

    assert stored == {
        "required": ["budget", "need"],
        "min_confirmed": 2,
        "max_timeline_months": 12,
        "authority_roles": ["decision_maker"],
    }
    assert QualificationPolicy.from_dict(stored) == policy
    assert QualificationPolicy.from_dict({}) == DEFAULT_POLICY


def test_policy_from_dict_refuses_an_unknown_key():
    with pytest.raises(ValueError, match="min_confirmd"):
        QualificationPolicy.from_dict({"min_confirmd": 2})


@pytest.mark.parametrize(
    "data",
    [
        {"required": ["budget", "money"]},
        {"required": "need"},
        {"min_confirmed": 5},
        {"min_confirmed": True},
        {"max_timeline_months": 0},
        {"authority_roles": ["ceo"]},
    ],
)
def test_policy_from_dict_refuses_bad_values(data):
    with pytest.raises(ValueError):
        QualificationPolicy.from_dict(data)


@pytest.mark.parametrize(
    "values",
    [
        {"budget_status": "maybe"},
        {"authority_role": "ceo"},
        {"timeline_timeframe": "soon"},
        {"outcome": "won"},
    ],
)
def test_a_review_refuses_values_outside_the_vocabulary(values):
    with pytest.raises(ValueError):
        BantReview(**values)


# --- what a page shows ----------------------------------------------------------------------


def test_the_owner_of_a_handed_off_mql_sees_accept_reject_and_disqualify():
    actions = allowed_actions(SITUATIONS["mql*"], {Role.SALES}, OWNER)

    assert actions == [Action.ACCEPT, Action.REJECT, Action.DISQUALIFY]


def test_another_sdr_sees_only_disqualify_on_someone_elses_lead():
    assert allowed_actions(SITUATIONS["mql*"], {Role.SALES}, OTHER_SDR) == [Action.DISQUALIFY]


def test_marketing_sees_reassign_and_disqualify_on_a_handed_off_mql():
    actions = allowed_actions(SITUATIONS["mql*"], {Role.MARKETING}, 1)

    assert actions == [Action.HANDOFF, Action.DISQUALIFY]


def test_routing_sees_handoff_only_before_the_first_handoff():
    assert allowed_actions(SITUATIONS["mql"], {Role.SYSTEM}, None) == [Action.HANDOFF]
    assert allowed_actions(SITUATIONS["mql*"], {Role.SYSTEM}, None) == []


def test_an_sdr_who_is_also_a_marketer_sees_both_sets_of_buttons():
    actions = allowed_actions(SITUATIONS["mql*"], {Role.SALES, Role.MARKETING}, OWNER)

    assert actions == [Action.HANDOFF, Action.ACCEPT, Action.REJECT, Action.DISQUALIFY]


def test_a_customer_offers_no_actions_to_anyone():
    assert allowed_actions(SITUATIONS["customer"], set(Role), OWNER) == []


def test_a_disqualified_lead_offers_only_reopen_to_marketing():
    assert allowed_actions(SITUATIONS["disqualified"], {Role.MARKETING}, 1) == [Action.REOPEN]
    assert allowed_actions(SITUATIONS["disqualified"], {Role.SALES}, OWNER) == []


def test_every_action_has_a_button_label():
    assert {a: ACTIONS[a].label for a in (Action.HANDOFF, Action.ACCEPT, Action.REJECT)} == {
        Action.HANDOFF: "Hand off",
        Action.ACCEPT: "Accept",
        Action.REJECT: "Reject",
    }
    assert all(ACTIONS[a].label.strip() for a in Action)


# --- random walks ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, database=None)
@given(st.data())
def test_random_walks_stay_in_the_lifecycle(data):
    state = LeadState(data.draw(st.sampled_from(list(Stage)), label="start"))
    for _ in range(data.draw(st.integers(0, 20), label="steps")):
        role = data.draw(st.sampled_from(list(Role)))
        actor = data.draw(st.sampled_from([OWNER, OTHER_SDR]))
        offered = allowed_actions(state, {role}, actor)
        # Mostly walk the offered buttons; sometimes press anything, to probe the refusals.
        if offered and data.draw(st.booleans()):
            action = data.draw(st.sampled_from(offered))
        else:
            action = data.draw(st.sampled_from(list(Action)))
        request = full_request(
            action,
            state,
            {role},
            actor_id=actor,
            owner_id=data.draw(st.sampled_from([OWNER, OTHER_SDR])),
        )
        try:
            transition = plan(state, request)
        except TransitionError:
            # With every requirement carried, only stage and role can refuse: never a button.
            assert action not in offered
            continue

        assert action in offered
        assert isinstance(transition.to_stage, Stage)
        assert state.stage != Stage.CUSTOMER, "a customer never leaves"
        if state.stage == Stage.DISQUALIFIED:
            assert (action, transition.to_stage) == (Action.REOPEN, Stage.LEAD)
        # An SLA clock without an owner would page nobody.
        assert not transition.handed_off or transition.owner_id is not None
        state = LeadState(transition.to_stage, transition.owner_id, transition.handed_off)
