"""The scoring engine without a database: fit, engagement, the MQL rule and stored models."""

import copy
import dataclasses
import gc
import json
import math
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.engine import (
    DEFAULT_MODEL_DICT,
    GRADES,
    ICP,
    Criterion,
    EngagementContribution,
    EngagementResult,
    EngagementRule,
    ExplanationLabels,
    FitContribution,
    FitResult,
    InteractionFact,
    KnockOut,
    LeadFacts,
    ModelValidationError,
    PropertyFilter,
    ScoreResult,
    ScoringModel,
    compute_engagement,
    compute_fit,
    default_model,
    expand_explanation,
    explanation_labels,
    grade_at_least,
    interaction_reads,
    model_from_dict,
    model_to_dict,
    score_lead,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# No example database: the tests must not leave files in the repository.
quick = settings(max_examples=60, deadline=None, database=None)


def event(event_id: int, type_: str = "page_view", days_ago: float = 0, **properties) -> InteractionFact:
    return InteractionFact(event_id, type_, NOW - timedelta(days=days_ago), properties)


def rule(**overrides) -> EngagementRule:
    fields = {"key": "r", "label": "Rule", "types": ("page_view",), "points": 1.0}
    fields.update(overrides)
    return EngagementRule(**fields)


def only(result):
    assert len(result.contributions) == 1, result.contributions
    return result.contributions[0]


def fit_of(criterion: Criterion, lead: LeadFacts):
    return compute_fit(ICP(criteria=(criterion,)), lead).contributions[0]


IDEAL = LeadFacts(
    email="ann@acme.io",
    job_title="VP Marketing",
    seniority="vp",
    department="marketing",
    country="US",
    source="organic_search",
    company_domain="acme.io",
    industry="software",
    employee_count=200,
    annual_revenue=10_000_000,
)
GRADE_C = LeadFacts(email="bo@acme.io", industry="software", country="US")  # 30 of 107 points
GRADE_D = LeadFacts(email="cy@acme.io", country="US")  # 10 of 107 points


# --------------------------------------------------------------------------------------------
# Fit: criterion ops
# --------------------------------------------------------------------------------------------


def test_in_matches_case_insensitively():
    criterion = Criterion("ind", "Industry", "industry", "in", ("saas", "fintech"), weight=10)
    assert fit_of(criterion, LeadFacts("a@x.io", industry="SaaS ")).matched
    assert not fit_of(criterion, LeadFacts("a@x.io", industry="retail")).matched


@pytest.mark.parametrize(("employees", "matched"), [(49, False), (50, True), (5000, True), (5001, False)])
def test_range_includes_both_bounds(employees, matched):
    criterion = Criterion("size", "Size", "employee_count", "range", min=50, max=5000, weight=1)
    assert fit_of(criterion, LeadFacts("a@x.io", employee_count=employees)).matched is matched


def test_range_with_one_bound_is_open_on_the_other_side():
    at_least = Criterion("rev", "Revenue", "annual_revenue", "range", min=5_000_000, weight=1)
    at_most = Criterion("small", "Small", "employee_count", "range", max=10, weight=1)
    assert fit_of(at_least, LeadFacts("a@x.io", annual_revenue=10**12)).matched
    assert not fit_of(at_least, LeadFacts("a@x.io", annual_revenue=4_999_999)).matched
    assert fit_of(at_most, LeadFacts("a@x.io", employee_count=0)).matched
    assert not fit_of(at_most, LeadFacts("a@x.io", employee_count=11)).matched


def test_range_reads_numeric_strings_but_not_words_or_booleans():
    criterion = Criterion("seats", "Seats", "attributes.seats", "range", min=10, weight=1)
    assert fit_of(criterion, LeadFacts("a@x.io", attributes={"seats": "25"})).matched
    assert not fit_of(criterion, LeadFacts("a@x.io", attributes={"seats": "many"})).matched
    assert not fit_of(criterion, LeadFacts("a@x.io", attributes={"seats": True})).matched


@pytest.mark.parametrize(
    ("title", "matched"),
    [
        ("Head of Engineering", True),
        ("CHIEF Revenue Officer", True),
        ("Co-Founder & CEO", True),
        ("Software Engineer", False),
        ("Heads Of Department", False),
    ],
)
def test_contains_any_finds_a_keyword_in_the_job_title(title, matched):
    criterion = Criterion(
        "title", "Title", "job_title", "contains_any", ("head of", "chief", "founder"), weight=1
    )
    assert fit_of(criterion, LeadFacts("a@x.io", job_title=title)).matched is matched


def test_contains_any_matches_whole_words_so_intern_is_not_international():
    criterion = Criterion("intern", "Intern", "job_title", "contains_any", ("intern",), weight=1)
    assert fit_of(criterion, LeadFacts("a@x.io", job_title="Marketing Intern")).matched
    assert not fit_of(criterion, LeadFacts("a@x.io", job_title="VP International Sales")).matched


def test_equals_compares_with_the_first_value_case_insensitively():
    criterion = Criterion("src", "Referral", "source", "equals", ("referral", "partner"), weight=1)
    assert fit_of(criterion, LeadFacts("a@x.io", source="Referral")).matched
    assert not fit_of(criterion, LeadFacts("a@x.io", source="partner")).matched


@pytest.mark.parametrize(
    ("attributes", "matched"),
    [({"budget": True}, True), ({"budget": "yes"}, True), ({"budget": False}, False), ({}, False)],
)
def test_exists_is_true_only_for_a_truthy_value(attributes, matched):
    criterion = Criterion("budget", "Has budget", "attributes.budget", "exists", weight=5)
    contribution = fit_of(criterion, LeadFacts("a@x.io", attributes=attributes))
    assert contribution.matched is matched
    assert contribution.points == (5 if matched else 0)


@pytest.mark.parametrize(
    ("op", "values", "bounds"),
    [
        ("in", ("",), {}),
        ("equals", ("",), {}),
        ("contains_any", ("a",), {}),
        ("range", (), {"min": None, "max": 10}),
        ("exists", (), {}),
    ],
)
@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_values_never_match(op, values, bounds, missing):
    criterion = Criterion("k", "K", "attributes.k", op, values, weight=10, **bounds)
    contribution = fit_of(criterion, LeadFacts("a@x.io", attributes={"k": missing}))
    assert contribution.matched is False
    assert contribution.points == 0


def test_missing_lead_fields_never_match():
    icp = default_model().icp
    result = compute_fit(icp, LeadFacts("someone@acme.io"))
    assert result.score == 0
    assert not any(c.matched for c in result.contributions)
    assert result.grade == "D"


def test_contribution_records_each_criterion_with_the_value_seen():
    result = compute_fit(default_model().icp, IDEAL)
    by_key = {c.key: c for c in result.contributions}
    assert len(result.contributions) == len(DEFAULT_MODEL_DICT["icp"]["criteria"])
    assert by_key["company_size"].value == 200
    assert by_key["company_size"].points == 20
    assert by_key["seniority_manager"].matched is False
    assert by_key["seniority_manager"].points == 0


# --------------------------------------------------------------------------------------------
# Fit: score, grade, knock-outs
# --------------------------------------------------------------------------------------------


def test_fit_score_is_the_share_of_positive_weights_matched():
    icp = ICP(
        criteria=(
            Criterion("a", "A", "country", "in", ("US",), weight=30),
            Criterion("b", "B", "industry", "in", ("saas",), weight=10),
        )
    )
    assert compute_fit(icp, LeadFacts("a@x.io", country="US")).score == 75
    assert compute_fit(icp, LeadFacts("a@x.io", industry="saas")).score == 25


def test_fit_score_rounds_to_a_whole_number():
    icp = ICP(
        criteria=(
            Criterion("a", "A", "country", "in", ("US",), weight=1),
            Criterion("b", "B", "industry", "in", ("saas",), weight=2),
        )
    )
    result = compute_fit(icp, LeadFacts("a@x.io", country="US"))
    assert result.score == 33
    assert isinstance(result.score, int)


def test_negative_weight_subtracts_and_the_sum_is_floored_at_zero():
    icp = ICP(
        criteria=(
            Criterion("us", "In the US", "country", "in", ("US",), weight=50),
            Criterion("agency", "Agency", "industry", "in", ("agency",), weight=-20),
        )
    )
    both = compute_fit(icp, LeadFacts("a@x.io", country="US", industry="agency"))
    assert both.score == 60  # (50 - 20) of 50 positive points
    negative_only = compute_fit(icp, LeadFacts("a@x.io", industry="agency"))
    assert negative_only.score == 0
    assert negative_only.contributions[1].points == -20


def test_fit_score_is_zero_when_no_criterion_has_positive_weight():
    icp = ICP(criteria=(Criterion("a", "A", "country", "in", ("US",), weight=-5),))
    assert compute_fit(icp, LeadFacts("a@x.io", country="US")).score == 0
    assert compute_fit(ICP(criteria=()), LeadFacts("a@x.io")).score == 0


@pytest.mark.parametrize(
    ("score", "grade"),
    [(100, "A"), (75, "A"), (74, "B"), (50, "B"), (49, "C"), (25, "C"), (24, "D"), (1, "D")],
)
def test_grade_boundaries(score, grade):
    criteria = [Criterion("hit", "Hit", "country", "in", ("US",), weight=score)]
    if score < 100:
        criteria.append(Criterion("miss", "Miss", "industry", "in", ("x",), weight=100 - score))
    result = compute_fit(ICP(criteria=tuple(criteria)), LeadFacts("a@x.io", country="US"))
    assert result.score == score
    assert result.grade == grade


def test_custom_grade_thresholds_are_used():
    icp = ICP(
        criteria=(
            Criterion("hit", "Hit", "country", "in", ("US",), weight=60),
            Criterion("miss", "Miss", "industry", "in", ("x",), weight=40),
        ),
        grade_thresholds={"A": 90, "B": 70, "C": 60},
    )
    assert compute_fit(icp, LeadFacts("a@x.io", country="US")).grade == "C"


def test_ideal_corporate_lead_gets_grade_a_on_the_default_model():
    result = compute_fit(default_model().icp, IDEAL)
    assert result.grade == "A"
    assert result.score == 93  # the manager criterion cannot match alongside vp
    assert result.knocked_out_by == ()


def test_knock_out_makes_grade_f_even_when_everything_else_matches():
    gmail = LeadFacts(**{**IDEAL.__dict__, "email": "ann@Gmail.com"})
    result = compute_fit(default_model().icp, gmail)
    assert result.grade == "F"
    assert result.score == 93  # kept, so the marketer sees how close it was
    assert result.knocked_out_by == ("Personal email address (Gmail, Yahoo, Outlook...)",)


@pytest.mark.parametrize(
    ("changes", "knock_out_key"),
    [
        ({"email": "x@hubspot.com"}, "competitor_email"),
        ({"company_domain": "salesforce.com"}, "competitor_company"),
        ({"seniority": "student"}, "student"),
        ({"job_title": "Marketing Intern"}, "student_title"),
        ({"job_title": "PhD Student"}, "student_title"),
        ({"country": "KP"}, "sanctioned_country"),
    ],
)
def test_each_default_knock_out_grades_f(changes, knock_out_key):
    icp = default_model().icp
    label = next(k.label for k in icp.knockouts if k.key == knock_out_key)
    result = compute_fit(icp, LeadFacts(**{**IDEAL.__dict__, **changes}))
    assert result.grade == "F"
    assert label in result.knocked_out_by


def test_knock_out_names_every_rule_that_matched():
    icp = ICP(
        criteria=(Criterion("us", "US", "country", "in", ("US",), weight=1),),
        knockouts=(
            KnockOut("free", "Free mail", "email_domain", "in", ("gmail.com",)),
            KnockOut("kid", "Student", "seniority", "equals", ("student",)),
            KnockOut("never", "Never", "country", "in", ("KP",)),
        ),
    )
    result = compute_fit(icp, LeadFacts("a@gmail.com", country="US", seniority="student"))
    assert result.knocked_out_by == ("Free mail", "Student")


def test_email_domain_is_the_lower_case_part_after_the_at_sign():
    assert LeadFacts(" Jane@Sub.Example.COM ").email_domain == "sub.example.com"
    assert LeadFacts("not-an-email").email_domain == ""


def test_unknown_criterion_op_is_an_error_not_a_silent_miss():
    with pytest.raises(ValueError, match="unknown op"):
        fit_of(Criterion("k", "K", "country", "like", ("US",)), LeadFacts("a@x.io", country="US"))


# --------------------------------------------------------------------------------------------
# Engagement: units
# --------------------------------------------------------------------------------------------


def test_per_event_gives_points_for_every_matching_event():
    result = compute_engagement([rule(points=2)], [event(1), event(2), event(3)], NOW)
    contribution = only(result)
    assert (contribution.units, contribution.points, result.score) == (3, 6.0, 6)
    assert contribution.event_ids == (1, 2, 3)


def test_per_distinct_day_counts_utc_days():
    new_york = timezone(timedelta(hours=-5))
    events = [
        # 23:30 in New York on 30 May is 04:30 UTC on 31 May: the same UTC day as the next one.
        InteractionFact(1, "page_view", datetime(2025, 5, 30, 23, 30, tzinfo=new_york)),
        InteractionFact(2, "page_view", datetime(2025, 5, 31, 10, 0, tzinfo=UTC)),
        InteractionFact(3, "page_view", datetime(2025, 5, 29, 10, 0, tzinfo=UTC)),
    ]
    contribution = only(compute_engagement([rule(per="distinct_day", points=3)], events, NOW))
    assert contribution.units == 2
    assert contribution.points == 6.0
    assert set(contribution.event_ids) == {1, 2, 3}


def test_per_distinct_type_counts_kinds_of_conversion():
    conversions = rule(types=("form_submission", "content_download", "demo_request"), per="distinct_type")
    events = [
        event(1, "form_submission"),
        event(2, "form_submission"),
        event(3, "content_download"),
        event(4, "page_view"),
    ]
    contribution = only(compute_engagement([conversions], events, NOW))
    assert contribution.units == 2
    assert contribution.event_ids == (1, 2, 3)


def test_per_once_gives_points_once_however_many_events():
    signup = rule(types=("newsletter_signup",), points=3, per="once")
    events = [event(i, "newsletter_signup") for i in range(1, 6)]
    contribution = only(compute_engagement([signup], events, NOW))
    assert (contribution.units, contribution.raw_points, contribution.points) == (1, 3.0, 3.0)
    assert len(contribution.event_ids) == 5


def test_min_count_withholds_points_until_enough_units():
    returning = rule(per="distinct_day", points=3, min_count=2)
    same_day = compute_engagement([returning], [event(1), event(2, days_ago=0.1)], NOW)
    assert same_day.contributions == ()
    assert same_day.score == 0
    two_days = compute_engagement([returning], [event(1), event(2, days_ago=1)], NOW)
    assert only(two_days).points == 6.0


def test_min_count_on_once_counts_events():
    clicks = rule(types=("email_click",), per="once", points=5, min_count=3)
    two = [event(1, "email_click"), event(2, "email_click")]
    assert compute_engagement([clicks], two, NOW).score == 0
    assert compute_engagement([clicks], [*two, event(3, "email_click")], NOW).score == 5


def test_rule_that_matches_nothing_has_no_contribution():
    result = compute_engagement([rule(types=("demo_request",))], [event(1, "page_view")], NOW)
    assert result.contributions == ()
    assert result.score == 0


def test_unknown_interaction_types_match_no_rule():
    result = compute_engagement([rule()], [event(1, "fax_received")], NOW)
    assert result.score == 0


# --------------------------------------------------------------------------------------------
# Engagement: caps and negative points
# --------------------------------------------------------------------------------------------


def test_rule_cap_limits_a_positive_contribution():
    events = [event(i) for i in range(20)]
    contribution = only(compute_engagement([rule(cap=15)], events, NOW))
    assert contribution.decayed_points == 20.0
    assert contribution.points == 15.0
    assert contribution.capped is True


def test_rule_cap_limits_the_magnitude_of_a_negative_contribution():
    careers = rule(points=-10, cap=20)
    contribution = only(compute_engagement([careers], [event(1), event(2), event(3)], NOW))
    assert contribution.points == -20.0
    assert contribution.capped is True


def test_rule_under_its_cap_is_not_marked_capped():
    contribution = only(compute_engagement([rule(cap=15)], [event(1)], NOW))
    assert contribution.capped is False
    assert contribution.points == 1.0


def test_total_cap_limits_the_engagement_score():
    rules = [
        rule(key="demo", types=("demo_request",), points=80, per="once"),
        rule(key="trial", types=("trial_signup",), points=50, per="once"),
    ]
    events = [event(1, "demo_request"), event(2, "trial_signup")]
    result = compute_engagement(rules, events, NOW, total_cap=100)
    assert result.score == 100
    assert result.total_capped is True
    assert sum(c.points for c in result.contributions) == 130.0


def test_engagement_below_the_total_cap_is_not_marked_capped():
    result = compute_engagement([rule(points=99)], [event(1)], NOW, total_cap=100)
    assert (result.score, result.total_capped) == (99, False)


def test_negative_points_offset_positive_points():
    rules = [
        rule(key="contact", types=("contact_request",), points=30, per="once"),
        rule(key="unsub", types=("unsubscribe",), points=-20, per="once"),
    ]
    events = [event(1, "contact_request"), event(2, "unsubscribe")]
    assert compute_engagement(rules, events, NOW).score == 10


def test_engagement_score_is_never_negative():
    bounce = rule(types=("bounce",), points=-30, per="once")
    result = compute_engagement([bounce], [event(1, "bounce")], NOW)
    assert result.score == 0
    assert only(result).points == -30.0  # the explanation still shows the penalty


def test_contribution_points_add_up_to_the_score():
    rules = [
        rule(key="open", types=("email_open",), points=0.33),
        rule(key="click", types=("email_click",), points=1.25, half_life_days=7),
    ]
    events = [event(i, "email_open") for i in range(3)] + [
        event(10, "email_click", days_ago=3),
        event(11, "email_click", days_ago=9),
    ]
    result = compute_engagement(rules, events, NOW)
    assert result.score == round(sum(c.points for c in result.contributions))
    assert all(c.points == round(c.points, 2) for c in result.contributions)


# --------------------------------------------------------------------------------------------
# Engagement: decay, expiry, time
# --------------------------------------------------------------------------------------------


def test_half_life_exactly_halves_points_at_one_half_life():
    pricing = rule(points=10, half_life_days=14)
    contribution = only(compute_engagement([pricing], [event(1, days_ago=14)], NOW))
    assert contribution.raw_points == 10.0
    assert contribution.decayed_points == 5.0
    assert contribution.points == 5.0


def test_two_half_lives_leave_a_quarter():
    contribution = only(
        compute_engagement([rule(points=10, half_life_days=14)], [event(1, days_ago=28)], NOW)
    )
    assert contribution.decayed_points == 2.5


def test_cap_applies_after_decay():
    events = [event(i, days_ago=30) for i in range(20)]
    contribution = only(compute_engagement([rule(cap=15, half_life_days=30)], events, NOW))
    assert contribution.decayed_points == 10.0
    assert contribution.points == 10.0
    assert contribution.capped is False


def test_grouped_units_decay_by_their_newest_event():
    conversions = rule(
        types=("form_submission", "content_download"),
        per="distinct_type",
        points=10,
        half_life_days=28,
    )
    events = [
        event(1, "form_submission", days_ago=28),
        event(2, "form_submission", days_ago=0),
        event(3, "content_download", days_ago=28),
    ]
    contribution = only(compute_engagement([conversions], events, NOW))
    assert contribution.decayed_points == 15.0  # form fresh (10) + download halved (5)


def test_expiry_drops_events_older_than_the_window():
    ad = rule(types=("ad_click",), expiry_days=30)
    events = [event(1, "ad_click", days_ago=30), event(2, "ad_click", days_ago=30.5)]
    contribution = only(compute_engagement([ad], events, NOW))
    assert contribution.event_ids == (1,)
    assert contribution.points == 1.0


def test_rule_with_only_expired_events_contributes_nothing():
    ad = rule(types=("ad_click",), expiry_days=30)
    assert compute_engagement([ad], [event(1, "ad_click", days_ago=31)], NOW).contributions == ()


def test_future_events_count_as_age_zero():
    contribution = only(compute_engagement([rule(points=10, half_life_days=1)], [event(1, days_ago=-5)], NOW))
    assert contribution.decayed_points == 10.0


def test_naive_datetimes_are_rejected():
    naive_now = NOW.replace(tzinfo=None)
    with pytest.raises(ValueError, match="now"):
        compute_engagement([rule()], [event(1)], naive_now)
    naive_event = InteractionFact(7, "page_view", naive_now)
    with pytest.raises(ValueError, match="interaction 7"):
        compute_engagement([rule()], [naive_event], NOW)


# --------------------------------------------------------------------------------------------
# Engagement: property filters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "properties", "holds"),
    [
        (
            PropertyFilter("url", "contains", "/pricing"),
            {"url": "https://x.io/Pricing/teams"},
            True,
        ),
        (PropertyFilter("url", "contains", "/pricing"), {"url": "https://x.io/blog"}, False),
        (PropertyFilter("url", "contains", "/pricing"), {"url": 42}, False),
        (PropertyFilter("asset_stage", "equals", "decision"), {"asset_stage": "Decision"}, True),
        (PropertyFilter("asset_stage", "equals", "decision"), {"asset_stage": "awareness"}, False),
        (PropertyFilter("seats", "equals", 5), {"seats": 5}, True),
        (PropertyFilter("seats", "equals", 5), {"seats": 6}, False),
        (PropertyFilter("channel", "in", ("linkedin", "x")), {"channel": "LinkedIn"}, True),
        (PropertyFilter("channel", "in", ("linkedin", "x")), {"channel": "tiktok"}, False),
        (PropertyFilter("duration_seconds", "gte", 30), {"duration_seconds": 30}, True),
        (PropertyFilter("duration_seconds", "gte", 30), {"duration_seconds": "45"}, True),
        (PropertyFilter("duration_seconds", "gte", 30), {"duration_seconds": 29}, False),
        (PropertyFilter("duration_seconds", "lte", 5), {"duration_seconds": 5}, True),
        (PropertyFilter("duration_seconds", "lte", 5), {"duration_seconds": 6}, False),
        (PropertyFilter("duration_seconds", "gte", 30), {"duration_seconds": "long"}, False),
        (PropertyFilter("duration_seconds", "exists"), {"duration_seconds": 0}, True),
        (PropertyFilter("duration_seconds", "exists"), {"duration_seconds": ""}, False),
        (PropertyFilter("duration_seconds", "exists"), {}, False),
        (PropertyFilter("url", "equals", "x"), {}, False),
    ],
)
def test_property_filter_ops(flt, properties, holds):
    result = compute_engagement([rule(filters=(flt,))], [event(1, **properties)], NOW)
    assert (result.score == 1) is holds


def test_all_property_filters_must_hold():
    filters = (
        PropertyFilter("url", "contains", "/pricing"),
        PropertyFilter("duration_seconds", "gte", 10),
    )
    events = [
        event(1, url="/pricing", duration_seconds=3),
        event(2, url="/pricing", duration_seconds=12),
        event(3, url="/blog", duration_seconds=60),
    ]
    assert only(compute_engagement([rule(filters=filters)], events, NOW)).event_ids == (2,)


# --------------------------------------------------------------------------------------------
# Default engagement rules
# --------------------------------------------------------------------------------------------


def test_default_rules_score_a_pricing_page_view_as_a_page_view_and_pricing():
    model = default_model()
    result = compute_engagement(model.rules, [event(1, url="https://x.io/pricing")], NOW)
    by_key = {c.key: c.points for c in result.contributions}
    assert by_key == {"page_view": 1.0, "pricing_page_url": 5.0}
    assert result.score == 6


def test_default_rules_penalise_careers_page_views():
    model = default_model()
    events = [event(i, url="https://x.io/careers/dev") for i in range(3)]
    result = compute_engagement(model.rules, events, NOW, model.total_cap)
    by_key = {c.key: c.points for c in result.contributions}
    assert by_key["careers_page_view"] == -20.0
    assert result.score == 0


def test_default_rules_weigh_downloads_by_buying_stage():
    model = default_model()
    events = [
        event(1, "content_download", asset_stage="awareness"),
        event(2, "content_download", asset_stage="consideration"),
        event(3, "content_download", asset_stage="decision"),
    ]
    by_key = {c.key: c.points for c in compute_engagement(model.rules, events, NOW).contributions}
    assert by_key["download_awareness"] == 3.0
    assert by_key["download_consideration"] == 6.0
    assert by_key["download_decision"] == 10.0


# --------------------------------------------------------------------------------------------
# The lead score and the MQL rule
# --------------------------------------------------------------------------------------------


def engaged_without_raising_a_hand() -> list[InteractionFact]:
    # trial 25 + webinar 10 + pricing 4 x 5 = 55, no demo or contact request
    return [
        event(1, "trial_signup"),
        event(2, "webinar_attendance"),
        *[event(10 + i, "pricing_page_view") for i in range(4)],
    ]


def test_engaged_grade_a_lead_is_an_mql_by_threshold():
    result = score_lead(default_model(), IDEAL, engaged_without_raising_a_hand(), NOW)
    assert result.engagement.score == 55
    assert (result.mql, result.mql_reason) == (True, "threshold")


def test_engaged_grade_c_lead_is_not_an_mql_without_the_fast_lane():
    result = score_lead(default_model(), GRADE_C, engaged_without_raising_a_hand(), NOW)
    assert result.fit.grade == "C"
    assert result.engagement.score >= 50
    assert (result.mql, result.mql_reason) == (False, "")


def test_grade_a_lead_below_the_threshold_is_not_an_mql():
    result = score_lead(default_model(), IDEAL, [event(1, "trial_signup")], NOW)
    assert result.engagement.score == 25
    assert result.mql is False


def test_demo_request_from_a_grade_c_lead_takes_the_fast_lane():
    result = score_lead(default_model(), GRADE_C, [event(1, "demo_request")], NOW)
    assert result.fit.grade == "C"
    assert result.engagement.score == 40  # below the threshold of 50
    assert (result.mql, result.mql_reason) == (True, "fast_lane")


def test_fast_lane_ignores_the_age_of_the_request():
    result = score_lead(default_model(), GRADE_C, [event(1, "contact_request", days_ago=400)], NOW)
    assert (result.mql, result.mql_reason) == (True, "fast_lane")


def test_demo_request_from_a_grade_d_lead_is_not_an_mql():
    result = score_lead(default_model(), GRADE_D, [event(1, "demo_request")], NOW)
    assert result.fit.grade == "D"
    assert result.mql is False


def test_knocked_out_lead_is_never_an_mql():
    gmail = LeadFacts(**{**IDEAL.__dict__, "email": "ann@gmail.com"})
    events = [event(1, "demo_request"), *engaged_without_raising_a_hand()]
    result = score_lead(default_model(), gmail, events, NOW)
    assert result.fit.grade == "F"
    assert result.engagement.score >= 50
    assert (result.mql, result.mql_reason) == (False, "")


def test_threshold_reason_wins_when_the_fast_lane_also_applies():
    events = [event(1, "demo_request"), *[event(10 + i, "pricing_page_view") for i in range(3)]]
    result = score_lead(default_model(), IDEAL, events, NOW)
    assert result.engagement.score == 55
    assert (result.mql, result.mql_reason) == (True, "threshold")


def test_lead_score_is_the_rounded_mean_of_fit_and_engagement():
    result = score_lead(default_model(), IDEAL, [event(1, "trial_signup")], NOW)
    assert (result.fit.score, result.engagement.score) == (93, 25)
    assert result.score == 59


@pytest.mark.parametrize(
    ("grade", "minimum", "expected"),
    [
        ("A", "B", True),
        ("B", "B", True),
        ("C", "B", False),
        ("D", "D", True),
        ("F", "D", False),
        ("F", "F", False),
    ],
)
def test_grade_at_least_orders_a_to_d_and_never_passes_f(grade, minimum, expected):
    assert grade_at_least(grade, minimum) is expected


def test_grade_at_least_rejects_unknown_grades():
    with pytest.raises(ValueError, match="unknown grade 'E'"):
        grade_at_least("E", "B")


def test_explanation_is_json_and_names_the_events():
    lead = LeadFacts(
        **{**IDEAL.__dict__, "attributes": {"signed": NOW, "arr": Decimal("1.5"), "tags": {"x"}}}
    )
    icp = ICP(criteria=(Criterion("arr", "ARR known", "attributes.arr", "exists", weight=1),))
    model = ScoringModel(icp=icp, rules=default_model().rules)
    result = score_lead(model, lead, [event(41, "demo_request"), event(42, "page_view")], NOW)

    explanation = json.loads(json.dumps(result.explanation()))
    rules = {r["key"]: r for r in explanation["engagement"]["rules"]}
    assert rules["demo_request"]["event_ids"] == [41]
    assert rules["page_view"]["event_ids"] == [42]
    assert set(rules["page_view"]) == {
        "key",
        "label",
        "units",
        "raw_points",
        "decayed_points",
        "points",
        "capped",
        "event_ids",
    }
    assert explanation["fit"]["criteria"][0] == {
        "key": "arr",
        "label": "ARR known",
        "matched": True,
        "points": 1,
        "value": "1.5",
    }
    assert explanation["computed_at"] == "2025-06-01T12:00:00+00:00"
    assert explanation["mql"] is True
    assert explanation["mql_reason"] == "fast_lane"
    assert explanation["score"] == result.score
    assert explanation["engagement"]["total_capped"] is False


# --------------------------------------------------------------------------------------------
# Stored models
# --------------------------------------------------------------------------------------------


def test_default_model_dict_round_trips_exactly():
    model = model_from_dict(DEFAULT_MODEL_DICT)
    assert model_to_dict(model) == DEFAULT_MODEL_DICT
    assert model_from_dict(model_to_dict(model)) == model
    assert model_from_dict(json.loads(json.dumps(DEFAULT_MODEL_DICT))) == model


def test_stored_form_uses_lists_not_tuples():
    stored = model_to_dict(default_model())
    assert isinstance(stored["rules"][0]["types"], list)
    assert isinstance(stored["icp"]["criteria"][0]["values"], list)
    assert isinstance(stored["fast_lane_types"], list)


def test_missing_optional_fields_take_their_defaults():
    model = model_from_dict(
        {
            "icp": {"criteria": [{"key": "us", "label": "US", "field": "country", "op": "in",
                                  "values": ["US"], "weight": 10}]},
            "rules": [{"key": "pv", "label": "Page view", "types": ["page_view"], "points": 1}],
        }
    )  # fmt: skip
    assert model.rules[0].per == "event"
    assert model.rules[0].min_count == 1
    assert model.icp.grade_thresholds == {"A": 75, "B": 50, "C": 25}
    assert model.total_cap == 100
    assert model.fast_lane_types == ("demo_request", "contact_request")
    assert model.icp.criteria[0].values == ("US",)


def broken(path: tuple, value) -> dict:
    data = copy.deepcopy(DEFAULT_MODEL_DICT)
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("rules", 2, "per"),
            "weekly",
            "rules[2].per: must be one of event, distinct_day, distinct_type, once",
        ),
        (("rules", 0, "points"), "ten", "rules[0].points: must be a number"),
        (("rules", 0, "points"), True, "rules[0].points: must be a number"),
        (("rules", 0, "half_life_days"), -1, "rules[0].half_life_days: must be greater than 0"),
        (("rules", 0, "cap"), -5, "rules[0].cap: must be 0 or more"),
        (("rules", 0, "min_count"), 0, "rules[0].min_count: must be a whole number of 1 or more"),
        (
            ("rules", 1, "types"),
            ["page_view", "pageview"],
            "rules[1].types[1]: unknown interaction type 'pageview'",
        ),
        (("rules", 1, "types"), [], "rules[1].types: needs at least one interaction type"),
        (("rules", 1, "filters", 0, "op"), "regex", "rules[1].filters[0].op: must be one of"),
        (("rules", 1, "filters", 0, "value"), 3, "rules[1].filters[0].value: must be a non-empty"),
        (("rules", 3, "colour"), "red", "rules[3].colour: unknown field"),
        (("icp", "criteria", 0, "op"), "like", "icp.criteria[0].op: must be one of in, range"),
        (("icp", "criteria", 1, "field"), "headcount", "icp.criteria[1].field: must be one of"),
        (("icp", "criteria", 1, "field"), "email_domain", "icp.criteria[1].field: must be one of"),
        (("icp", "criteria", 1, "min"), 9000, "icp.criteria[1].max: must not be less than min"),
        (("icp", "criteria", 0, "values"), [], "icp.criteria[0].values: needs at least one"),
        (("icp", "criteria", 0, "weight"), "lots", "icp.criteria[0].weight: must be a number"),
        (("icp", "knockouts", 0, "field"), "phone", "icp.knockouts[0].field: must be one of"),
        (("icp", "grade_thresholds"), {"A": 40, "B": 50}, "icp.grade_thresholds.A: must not be"),
        (("icp", "grade_thresholds"), {"E": 10}, "icp.grade_thresholds.E: must be one of A, B, C"),
        (("mql_min_grade",), "E", "mql_min_grade: must be one of A, B, C, D"),
        (("mql_min_grade",), "F", "mql_min_grade: must be one of A, B, C, D"),
        (("fast_lane_min_grade",), "Z", "fast_lane_min_grade: must be one of A, B, C, D"),
        (("fast_lane_types",), ["phone_call"], "fast_lane_types[0]: unknown interaction type"),
        (("total_cap",), 0, "total_cap: must be greater than 0"),
        (("rules", 1, "key"), "page_view", "rules[1].key: duplicate key 'page_view'"),
        (("surprise",), 1, "surprise: unknown field"),
    ],
)
def test_validation_errors_name_the_bad_path(path, value, message):
    with pytest.raises(ValueError) as raised:
        model_from_dict(broken(path, value))
    assert message in str(raised.value)


def test_validation_reports_every_problem_at_once():
    data = broken(("rules", 0, "per"), "hourly")
    data["rules"][4]["points"] = None
    with pytest.raises(ModelValidationError) as raised:
        model_from_dict(data)
    paths = [path for path, _ in raised.value.errors]
    assert paths == ["rules[0].per", "rules[4].points"]


def test_validation_rejects_a_model_that_is_not_an_object():
    with pytest.raises(ValueError, match="model: must be an object"):
        model_from_dict(["not", "a", "model"])  # type: ignore[arg-type]


def test_validation_requires_icp_and_rules():
    with pytest.raises(ValueError) as raised:
        model_from_dict({})
    assert "icp: is required" in str(raised.value)
    assert "rules: is required" in str(raised.value)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

TYPES = ("page_view", "email_click", "demo_request", "unsubscribe", "content_download")
FILTERS = (
    PropertyFilter("url", "contains", "/pricing"),
    PropertyFilter("asset_stage", "in", ("decision", "consideration")),
    PropertyFilter("duration_seconds", "gte", 30),
    PropertyFilter("url", "exists"),
)
ZONES = (UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30)))

rules_st = st.builds(
    EngagementRule,
    key=st.just("r"),
    label=st.just("Rule"),
    types=st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True).map(tuple),
    points=st.floats(-60, 60, allow_nan=False),
    filters=st.lists(st.sampled_from(FILTERS), max_size=1).map(tuple),
    per=st.sampled_from(("event", "distinct_day", "distinct_type", "once")),
    min_count=st.integers(1, 3),
    cap=st.none() | st.floats(0, 60),
    half_life_days=st.none() | st.floats(0.5, 90),
    expiry_days=st.none() | st.floats(1, 120),
)
interactions_st = st.lists(
    st.builds(
        lambda i, type_, days_ago, zone, props: InteractionFact(
            i, type_, (NOW - timedelta(days=days_ago)).astimezone(zone), props
        ),
        st.integers(1, 10_000),
        st.sampled_from(TYPES),
        st.floats(-10, 200),
        st.sampled_from(ZONES),
        st.fixed_dictionaries(
            {},
            optional={
                "url": st.sampled_from(("/pricing", "/blog", "/careers")),
                "asset_stage": st.sampled_from(("awareness", "decision")),
                "duration_seconds": st.integers(0, 120),
            },
        ),
    ),
    max_size=12,
)


@quick
@given(rules=st.lists(rules_st, max_size=5), interactions=interactions_st)
def test_contribution_points_always_add_up_to_the_score(rules, interactions):
    result = compute_engagement(rules, interactions, NOW)
    total = sum(c.points for c in result.contributions)
    assert result.total_capped is False
    assert result.score >= 0
    if total >= 0:
        assert round(total) == result.score
    else:
        assert result.score == 0
    for contribution in result.contributions:
        assert contribution.units >= 1
        assert contribution.event_ids


@quick
@given(rule_=rules_st, interactions=interactions_st, total_cap=st.floats(1, 150))
def test_caps_are_never_exceeded(rule_, interactions, total_cap):
    result = compute_engagement([rule_], interactions, NOW, total_cap=total_cap)
    assert 0 <= result.score <= total_cap
    for contribution in result.contributions:
        if rule_.cap is not None:
            assert abs(contribution.points) <= round(rule_.cap, 2) + 0.005


lead_st = st.builds(
    LeadFacts,
    email=st.sampled_from(("a@acme.io", "b@gmail.com", "c")),
    job_title=st.sampled_from(("", "VP Sales", "Head of IT", "Intern")),
    seniority=st.sampled_from(("", "vp", "manager", "student")),
    country=st.sampled_from(("", "US", "de", "KP")),
    industry=st.sampled_from(("", "saas", "retail")),
    employee_count=st.none() | st.integers(-10, 100_000),
    annual_revenue=st.none() | st.integers(0, 10**10),
)
criterion_st = st.builds(
    Criterion,
    key=st.just("c"),
    label=st.just("Criterion"),
    field=st.sampled_from(("country", "industry", "seniority", "job_title", "employee_count")),
    op=st.sampled_from(("in", "range", "contains_any", "equals", "exists")),
    values=st.lists(st.sampled_from(("US", "saas", "vp", "head of", "intern")), max_size=3).map(tuple),
    min=st.none() | st.floats(-100, 10_000),
    max=st.none() | st.floats(-100, 10_000),
    weight=st.floats(-100, 100, allow_nan=False),
)


@quick
@given(criteria=st.lists(criterion_st, max_size=6), lead=lead_st)
def test_fit_score_is_always_between_0_and_100(criteria, lead):
    result = compute_fit(ICP(criteria=tuple(criteria)), lead)
    assert 0 <= result.score <= 100
    assert isinstance(result.score, int)
    assert result.grade in GRADES


@quick
@given(
    rule_=rules_st.filter(lambda r: r.points > 0 and r.cap is None),
    interactions=interactions_st,
    later_by_days=st.floats(0, 400),
)
def test_decay_never_increases_points(rule_, interactions, later_by_days):
    def points_at(now: datetime) -> float:
        result = compute_engagement([rule_], interactions, now)
        return result.contributions[0].points if result.contributions else 0.0

    assert points_at(NOW + timedelta(days=later_by_days)) <= points_at(NOW)


# --------------------------------------------------------------------------------------------
# The optimised engine against a plain reference
#
# score_lead runs a million times per rescore, so the engine compiles each model into a plan
# (folded value sets, filter predicates, a type index) and takes shortcuts. These tests keep the
# straightforward implementation it replaced and check the results are identical, to the bit.
# --------------------------------------------------------------------------------------------


def ref_words(text: str) -> list[str]:
    return "".join(ch if ch.isalnum() else " " for ch in text.casefold()).split()


def ref_missing(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def ref_fold(value):
    return value.strip().casefold() if isinstance(value, str) else value


def ref_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def ref_phrase(text: str, keyword: str) -> bool:
    haystack, needle = ref_words(text), ref_words(keyword)
    width = len(needle)
    return bool(needle) and any(haystack[i : i + width] == needle for i in range(len(haystack) - width + 1))


def ref_matches(op, value, values, minimum, maximum) -> bool:
    if op == "exists":
        return bool(value) and not ref_missing(value)
    if ref_missing(value):
        return False
    if op == "in":
        return any(ref_fold(value) == ref_fold(c) for c in values)
    if op == "equals":
        return bool(values) and ref_fold(value) == ref_fold(values[0])
    if op == "contains_any":
        return isinstance(value, str) and any(isinstance(k, str) and ref_phrase(value, k) for k in values)
    if op == "range":
        number = ref_number(value)
        if number is None:
            return False
        return (minimum is None or number >= minimum) and (maximum is None or number <= maximum)
    raise ValueError(f"unknown op {op!r}")


def ref_lead_value(lead: LeadFacts, field_name: str):
    if field_name == "email_domain":
        return lead.email_domain
    if field_name.startswith("attributes."):
        return (lead.attributes or {}).get(field_name[len("attributes.") :])
    return getattr(lead, field_name)


def ref_fit(icp: ICP, lead: LeadFacts) -> FitResult:
    contributions, matched_weight = [], 0.0
    for c in icp.criteria:
        value = ref_lead_value(lead, c.field)
        matched = ref_matches(c.op, value, c.values, c.min, c.max)
        points = c.weight if matched else 0
        matched_weight += points
        contributions.append(FitContribution(c.key, c.label, matched, points, value))
    possible = sum(c.weight for c in icp.criteria if c.weight > 0)
    score = 0 if possible <= 0 else min(100, max(0, round(100 * max(0.0, matched_weight) / possible)))
    knocked_out_by = tuple(
        k.label
        for k in icp.knockouts
        if ref_matches(k.op, ref_lead_value(lead, k.field), k.values, k.min, k.max)
    )
    grade = "F"
    if not knocked_out_by:
        passed = [g for g in ("A", "B", "C") if icp.grade_thresholds.get(g) is not None]
        grade = next((g for g in passed if score >= icp.grade_thresholds[g]), "D")
    return FitResult(score, grade, tuple(contributions), knocked_out_by)


def ref_filter_holds(flt: PropertyFilter, properties) -> bool:
    value = properties.get(flt.key)
    if flt.op == "exists":
        return not ref_missing(value)
    if ref_missing(value):
        return False
    if flt.op == "contains":
        return (
            isinstance(value, str) and isinstance(flt.value, str) and flt.value.casefold() in value.casefold()
        )
    if flt.op == "equals":
        return ref_fold(value) == ref_fold(flt.value)
    if flt.op == "in":
        return any(ref_fold(value) == ref_fold(c) for c in flt.value or ())
    number, bound = ref_number(value), ref_number(flt.value)
    if number is None or bound is None:
        return False
    return number >= bound if flt.op == "gte" else number <= bound


def ref_age_days(moment: datetime, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds() / 86_400.0)


def ref_units(per: str, events: list[InteractionFact]) -> list[list[InteractionFact]]:
    if per == "event":
        return [[e] for e in events]
    if per == "once":
        return [list(events)]
    groups: dict = {}
    for e in events:
        key = e.occurred_at.astimezone(UTC).date() if per == "distinct_day" else e.type
        groups.setdefault(key, []).append(e)
    return list(groups.values())


def ref_apply_rule(rule: EngagementRule, events, now: datetime) -> EngagementContribution | None:
    matching = [
        e
        for e in events
        if e.type in rule.types and all(ref_filter_holds(flt, e.properties or {}) for flt in rule.filters)
    ]
    if rule.expiry_days is not None:
        matching = [e for e in matching if ref_age_days(e.occurred_at, now) <= rule.expiry_days]
    if not matching:
        return None
    units = ref_units(rule.per, matching)
    if (len(matching) if rule.per == "once" else len(units)) < rule.min_count:
        return None
    decayed = 0.0
    for unit in units:
        age = ref_age_days(max(e.occurred_at for e in unit), now)
        decayed += rule.points * (1.0 if rule.half_life_days is None else 0.5 ** (age / rule.half_life_days))
    capped = rule.cap is not None and abs(decayed) > rule.cap
    counted = math.copysign(rule.cap, decayed) if capped else decayed
    return EngagementContribution(
        rule.key,
        rule.label,
        len(units),
        round(rule.points * len(units), 2) + 0.0,
        round(decayed, 2) + 0.0,
        round(counted, 2) + 0.0,
        capped,
        tuple(e.id for e in sorted(matching, key=lambda e: (e.occurred_at, e.id))),
    )


def ref_engagement(rules, events, now: datetime, total_cap=None) -> EngagementResult:
    contributions = tuple(c for r in rules if (c := ref_apply_rule(r, events, now)) is not None)
    rounded = round(sum(c.points for c in contributions))
    total_capped = total_cap is not None and rounded > total_cap
    score = math.floor(total_cap) if total_capped else max(0, rounded)
    return EngagementResult(int(score), contributions, total_capped)


def ref_jsonable(value):
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): ref_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [ref_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def ref_explanation(result) -> dict:
    fit, engagement = result.fit, result.engagement
    return {
        "fit": {
            "score": fit.score,
            "grade": fit.grade,
            "criteria": [
                {"key": c.key, "label": c.label, "matched": c.matched, "points": c.points,
                 "value": ref_jsonable(c.value)}
                for c in fit.contributions
            ],
            "knocked_out_by": list(fit.knocked_out_by),
        },
        "engagement": {
            "score": engagement.score,
            "rules": [
                {**{f: getattr(c, f) for f in ("key", "label", "units", "raw_points")},
                 **{f: getattr(c, f) for f in ("decayed_points", "points", "capped")},
                 "event_ids": list(c.event_ids)}
                for c in engagement.contributions
            ],
            "total_capped": engagement.total_capped,
        },
        "score": result.score,
        "mql": result.mql,
        "mql_reason": result.mql_reason,
        "computed_at": result.computed_at.isoformat(),
    }  # fmt: skip


def exactly(value) -> str:
    """repr shows every field, tells 1 from 1.0 from True and every float bit that matters."""
    return repr(value)


ALL_TYPES = ("page_view", "pricing_page_view", "email_click", "demo_request", "content_download", "bounce")
ALL_FILTERS = (
    PropertyFilter("url", "contains", "/pricing"),
    PropertyFilter("url", "contains", "/careers"),
    PropertyFilter("asset_stage", "equals", "decision"),
    PropertyFilter("seats", "equals", 5),
    PropertyFilter("asset_stage", "in", ("decision", "consideration")),
    PropertyFilter("channel", "in", ("linkedin", 3)),
    PropertyFilter("duration_seconds", "gte", 30),
    PropertyFilter("duration_seconds", "lte", 10.5),
    PropertyFilter("url", "exists"),
    PropertyFilter("duration_seconds", "exists"),
)
NEW_YORK = ZoneInfo("America/New_York")
ALL_ZONES = (UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30)), NEW_YORK)

any_rule_st = st.builds(
    EngagementRule,
    key=st.sampled_from(("a", "b", "c")),
    label=st.just("Rule"),
    types=st.lists(st.sampled_from(ALL_TYPES), min_size=1, max_size=4).map(tuple),  # repeats allowed
    points=st.sampled_from((1, 5, 0.5, 0.33, 2.675, -10, -0.5, 0)) | st.floats(-60, 60, allow_nan=False),
    filters=st.lists(st.sampled_from(ALL_FILTERS), max_size=2).map(tuple),
    per=st.sampled_from(("event", "distinct_day", "distinct_type", "once")),
    min_count=st.integers(1, 3),
    cap=st.none() | st.sampled_from((0, 5, 15)) | st.floats(0, 60),
    half_life_days=st.none() | st.sampled_from((14, 30)) | st.floats(0.5, 90),
    expiry_days=st.none() | st.sampled_from((1, 30)) | st.floats(0.5, 120),
)
any_interactions_st = st.lists(
    st.builds(
        lambda i, type_, days_ago, zone, props: InteractionFact(
            i, type_, (NOW - timedelta(days=days_ago)).astimezone(zone), props
        ),
        st.integers(1, 6),  # duplicate ids happen
        st.sampled_from((*ALL_TYPES, "fax_received")),
        st.sampled_from((0, 1, 14, 30, -2)) | st.floats(-10, 200),  # ties, boundaries, future
        st.sampled_from(ALL_ZONES),
        st.fixed_dictionaries(
            {},
            optional={
                "url": st.sampled_from(("/pricing", "/Pricing/x", "/blog", "/careers", "", " ", None, 42)),
                "asset_stage": st.sampled_from(("awareness", "Decision ", "consideration", "")),
                "duration_seconds": st.sampled_from((0, 5, 10.5, 30, "45", "long", True, None)),
                "seats": st.sampled_from((5, 5.0, "5", "five")),
                "channel": st.sampled_from(("LinkedIn", "3", 3, "x")),
            },
        ),
    ),
    max_size=15,
)
any_value_st = st.sampled_from(
    (
        "",
        "  ",
        "US",
        "us ",
        "software",
        "SaaS",
        "vp",
        "VP Sales",
        "Head of IT",
        "Intern",
        "5",
        5,
        5.0,
        49,
        5001,
    )
) | st.sampled_from((None, True, False, float("nan"), Decimal("7"), 10**6, "Straße", "STRASSE"))
any_lead_st = st.builds(
    LeadFacts,
    email=st.sampled_from(("a@acme.io", "b@Gmail.com", "c", "d@hubspot.com")),
    job_title=any_value_st,
    seniority=any_value_st,
    country=any_value_st,
    industry=any_value_st,
    company_domain=st.sampled_from(("acme.io", "salesforce.com", "")),
    employee_count=any_value_st,
    annual_revenue=any_value_st,
    attributes=st.fixed_dictionaries({}, optional={"k": any_value_st, "budget": any_value_st}),
)
condition_values_st = st.lists(
    st.sampled_from(
        ("US", "saas", "software", "vp", "head of", "vice president", "intern", "5", 5, True, "")
    ),
    max_size=4,
).map(tuple)
FIELDS = (
    "country",
    "industry",
    "seniority",
    "job_title",
    "employee_count",
    "annual_revenue",
    "attributes.k",
)
any_criterion_st = st.builds(
    Criterion,
    key=st.just("c"),
    label=st.just("Criterion"),
    field=st.sampled_from(FIELDS),
    op=st.sampled_from(("in", "range", "contains_any", "equals", "exists")),
    values=condition_values_st,
    min=st.none() | st.sampled_from((5, 50, 10.5)),
    max=st.none() | st.sampled_from((5, 5000, 10**7)),
    weight=st.sampled_from((10, 20, -20, 0, 2.5)),
)
any_knockout_st = st.builds(
    KnockOut,
    key=st.just("k"),
    label=st.sampled_from(("K1", "K2")),
    field=st.sampled_from((*FIELDS, "email_domain", "company_domain")),
    op=st.sampled_from(("in", "contains_any", "equals", "exists", "range")),
    values=condition_values_st | st.just(("gmail.com", "hubspot.com", "salesforce.com")),
    min=st.none() | st.just(100),
)
exact = settings(max_examples=250, deadline=None, database=None)


@exact
@given(
    rules=st.lists(any_rule_st, max_size=6),
    interactions=any_interactions_st,
    total_cap=st.none() | st.sampled_from((0, 10.5, 100)),
    now_zone=st.sampled_from(ALL_ZONES),
)
def test_engagement_is_exactly_the_reference(rules, interactions, total_cap, now_zone):
    now = NOW.astimezone(now_zone)
    expected = ref_engagement(rules, interactions, now, total_cap)
    assert exactly(compute_engagement(rules, interactions, now, total_cap)) == exactly(expected)
    # The same rules inside a model take the cached, per-model path.
    model = ScoringModel(icp=ICP(criteria=()), rules=tuple(rules), total_cap=total_cap)
    assert exactly(score_lead(model, IDEAL, interactions, now).engagement) == exactly(expected)


@exact
@given(
    criteria=st.lists(any_criterion_st, max_size=6),
    knockouts=st.lists(any_knockout_st, max_size=3),
    leads=st.lists(any_lead_st, min_size=1, max_size=4),
)
def test_fit_is_exactly_the_reference(criteria, knockouts, leads):
    icp = ICP(criteria=tuple(criteria), knockouts=tuple(knockouts))
    for lead in leads:  # several leads per ICP so remembered outcomes get reused
        assert exactly(compute_fit(icp, lead)) == exactly(ref_fit(icp, lead))


@exact
@given(lead=any_lead_st, interactions=any_interactions_st)
def test_default_model_score_and_explanation_are_exactly_the_reference(lead, interactions):
    model = default_model()
    result = score_lead(model, lead, interactions, NOW)
    fit, engagement = (
        ref_fit(model.icp, lead),
        ref_engagement(model.rules, interactions, NOW, model.total_cap),
    )
    assert exactly(result.fit) == exactly(fit)
    assert exactly(result.engagement) == exactly(engagement)
    expected = ref_explanation(ScoreResult(fit, engagement, result.score, result.mql, result.mql_reason, NOW))
    explanation = result.explanation()
    assert json.dumps(explanation) == json.dumps(expected)
    assert exactly(explanation) == exactly(json.loads(json.dumps(explanation)))


def hundredths_and_ties():
    # k/100 and the halfway points between them, plus their float neighbours.
    values = st.integers(-(10**8), 10**8).map(lambda k: k / 100)
    halves = st.integers(-(10**8), 10**8).map(lambda k: (2 * k + 1) / 200)
    nudged = (values | halves).flatmap(
        lambda x: st.sampled_from((x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)))
    )
    return nudged | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**20), 10**20)


@settings(max_examples=3000, deadline=None, database=None)
@given(value=hundredths_and_ties())
def test_points_rounding_is_exactly_round_to_two_decimals(value):
    from scoring.engine import _points

    assert exactly(_points(value)) == exactly(round(value, 2) + 0.0)


def test_points_rounding_on_known_ties():
    from scoring.engine import _points

    for value in (0.125, 2.675, 1.005, -0.005, -0.0, 0.0, 0.004999, 1e6 + 0.005, 1e15 + 0.5, 15, True):
        assert exactly(_points(value)) == exactly(round(value, 2) + 0.0)


def test_words_are_runs_of_alphanumeric_characters_for_every_code_point():
    from scoring.engine import _words

    everything = "".join(map(chr, range(0x110000)))
    assert _words(everything) == ref_words(everything)


def test_remembered_outcomes_keep_values_of_different_types_apart():
    seats = Criterion("seats", "Seats", "attributes.seats", "range", min=1, weight=1)
    icp = ICP(criteria=(seats,), knockouts=(KnockOut("one", "One", "attributes.seats", "equals", ("1",)),))
    for value in (1, True, 1.0, "1", " 1 ", 1, True):
        result = compute_fit(icp, LeadFacts("a@x.io", attributes={"seats": value}))
        assert exactly(result) == exactly(ref_fit(icp, LeadFacts("a@x.io", attributes={"seats": value})))
        assert type(result.contributions[0].value) is type(value)


def test_results_are_the_dataclasses_they_claim_to_be():
    result = score_lead(default_model(), IDEAL, [event(1, "demo_request"), event(2), event(3)], NOW)
    for obj in (
        result,
        result.fit,
        result.engagement,
        *result.fit.contributions,
        *result.engagement.contributions,
    ):
        fields = [f.name for f in dataclasses.fields(obj)]
        assert list(vars(obj)) == fields  # same fields, declaration order (pickles match)
        assert obj == type(obj)(**{name: getattr(obj, name) for name in fields})
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.score = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(result)) == result


def test_a_plan_belongs_to_its_model_object_only():
    from scoring import engine

    page_views = [event(1), event(2, days_ago=1)]
    for points in (1, 2, 3, 4):
        # A new model each time, often at the address of the one just freed.
        model = ScoringModel(icp=ICP(criteria=()), rules=(rule(points=points),), total_cap=None)
        assert score_lead(model, IDEAL, page_views, NOW).engagement.score == 2 * points
        del model
    gc.collect()
    model = default_model()
    score_lead(model, IDEAL, page_views, NOW)
    assert id(model) in engine._MODEL_PLANS
    del model
    gc.collect()
    live = {key for key, (ref, _) in engine._MODEL_PLANS.items() if ref() is not None}
    assert set(engine._MODEL_PLANS) == live  # entries of collected models are dropped


def outcome(compute, *args):
    try:
        return exactly(compute(*args))
    except Exception as error:  # noqa: BLE001 - the error is the outcome being compared
        return f"{type(error).__name__}: {error}"


def test_odd_rule_and_event_types_behave_as_before():
    class Tag(str):
        pass

    substring = rule(key="substring", types="page_view")  # type: ignore[arg-type]  # `in` on a str
    rules = [
        rule(key="tagged", types=(Tag("email_click"),), per="distinct_type"),
        rule(key="listed", types=["bounce", "bounce"]),  # type: ignore[arg-type]
        rule(key="plain", types=("page_view", "email_click")),
    ]
    events = [
        event(1, "page_view"),
        event(2, "view"),
        event(3, Tag("email_click")),
        event(4, "email_click"),
        event(5, None),  # type: ignore[arg-type]
        event(6, ("page_view",)),  # type: ignore[arg-type]
        event(7, "bounce"),
    ]
    for rules_ in (rules, [substring, *rules], [*rules, substring]):
        for events_ in (events, [e for e in events if e.type is not None]):
            expected = outcome(ref_engagement, rules_, events_, NOW)
            assert outcome(compute_engagement, rules_, events_, NOW) == expected


def test_errors_are_raised_where_they_were():
    bad_filter = rule(filters=(PropertyFilter("url", "regex", "x"),))
    with pytest.raises(ValueError, match="unknown filter op 'regex'"):
        compute_engagement([bad_filter], [event(1, url="/x")], NOW)
    assert compute_engagement([bad_filter], [event(1)], NOW).score == 0  # no value: not evaluated
    weekly = rule(per="weekly")
    with pytest.raises(ValueError, match="unknown per 'weekly'"):
        compute_engagement([weekly], [event(1)], NOW)
    assert compute_engagement([weekly], [event(1, "bounce")], NOW).score == 0
    with pytest.raises(TypeError):
        compute_engagement([rule(filters=None)], [event(1)], NOW)  # type: ignore[arg-type]
    assert compute_engagement([rule(filters=None)], [], NOW).score == 0  # type: ignore[arg-type]
    like = Criterion("k", "K", "country", "like", ("US",))
    assert compute_fit(ICP(criteria=(like,)), LeadFacts("a@x.io")).score == 0  # missing: no error
    unknown = Criterion("k", "K", "headcount", "in", ("US",))
    with pytest.raises(ValueError, match="unknown lead field 'headcount'"):
        score_lead(ScoringModel(icp=ICP(criteria=(unknown,)), rules=()), IDEAL, [], NOW)
    naive = InteractionFact(7, "page_view", NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="interaction 7.occurred_at"):
        score_lead(default_model(), IDEAL, [event(1), naive], NOW)
    with pytest.raises(ValueError, match="total_cap"):
        compute_engagement([], [], NOW, total_cap=-1)


def test_a_rule_on_several_types_adds_up_its_events_in_event_order():
    # Float addition is not associative, so decayed points must be summed in the order the
    # events came in, as the reference does, not grouped by type.
    from scoring import engine

    plan = engine._compile_rules([rule(types=("email_click", "page_view"))])
    events = [event(1, "page_view"), event(2, "email_click"), event(3, "page_view"), event(4, "bounce")]
    [(_, positions)] = engine._rules_with_events(plan, events)
    assert positions == [0, 1, 2]


def test_min_probability_is_an_mql_criterion_on_the_threshold_path():
    data = {**model_to_dict(default_model()), "mql_engagement_threshold": 0, "mql_min_grade": "D"}
    model = model_from_dict({**data, "mql_min_probability": 0.4})
    now = datetime(2026, 12, 1, tzinfo=UTC)
    lead = LeadFacts(email="a@acme.io", conversion_probability=0.5)
    assert score_lead(model, lead, (), now).mql is True
    low = LeadFacts(email="a@acme.io", conversion_probability=0.3)
    assert score_lead(model, low, (), now).mql is False
    unknown = LeadFacts(email="a@acme.io")
    assert score_lead(model, unknown, (), now).mql is False
    assert score_lead(model_from_dict(data), unknown, (), now).mql is True
    with pytest.raises(ValueError, match="mql_min_probability"):
        model_from_dict({**data, "mql_min_probability": 1.5})


def test_probability_can_be_an_icp_criterion():
    data = model_to_dict(default_model())
    data["icp"]["criteria"].append(
        {
            "key": "likely",
            "label": "Likely to buy",
            "field": "conversion_probability",
            "op": "range",
            "values": [],
            "min": 0.6,
            "max": None,
            "weight": 10,
        }
    )
    model = model_from_dict(data)
    fit = compute_fit(model.icp, LeadFacts(email="a@acme.io", conversion_probability=0.7))
    assert [c.matched for c in fit.contributions if c.key == "likely"] == [True]


@exact
@given(
    rules=st.lists(any_rule_st, max_size=6),
    interactions=any_interactions_st,
    fast_lane=st.lists(st.sampled_from(ALL_TYPES), max_size=2).map(tuple),
    lead=any_lead_st,
)
def test_what_a_model_does_not_read_changes_nothing(rules, interactions, fast_lane, lead):
    """The bulk rescore loads only engine.interaction_reads(model): the other types' interactions
    and the properties of types no filter looks at. Scores and explanations must not change."""
    model = ScoringModel(
        icp=default_model().icp, rules=tuple(rules), fast_lane_types=fast_lane, fast_lane_min_grade="D"
    )
    reads = interaction_reads(model)
    trimmed = [
        InteractionFact(
            e.id,
            e.type,
            e.occurred_at,
            # What the SQL loader builds: only the keys filters read, a missing one as null.
            {key: e.properties.get(key) for key in reads.property_keys}
            if e.type in reads.property_types
            else {},
        )
        for e in interactions
        if e.type in reads.types
    ]
    full, lean = score_lead(model, lead, interactions, NOW), score_lead(model, lead, trimmed, NOW)
    assert json.dumps(lean.explanation()) == json.dumps(full.explanation())
    assert (lean.score, lean.mql, lean.mql_reason) == (full.score, full.mql, full.mql_reason)


def test_interaction_reads_of_the_default_model():
    reads = interaction_reads(default_model())
    assert {"page_view", "demo_request", "contact_request", "content_download"} <= reads.types
    assert "page_view" in reads.property_types  # /pricing and /careers filters
    assert "demo_request" not in reads.property_types
    assert reads.property_keys == {"url", "asset_stage"}


@exact
@given(
    rules=st.lists(any_rule_st, max_size=6, unique_by=lambda r: r.key),
    interactions=any_interactions_st,
    lead=any_lead_st,
)
def test_a_stored_explanation_reads_back_as_the_full_one(rules, interactions, lead):
    """What is stored drops the labels and field names; read back with the model's labels it
    must be exactly ``explanation()``, through JSON as PostgreSQL keeps it."""
    icp = ICP(
        criteria=(
            *default_model().icp.criteria,
            Criterion("k", "Has a k", "attributes.k", "exists", weight=5),
        ),
        knockouts=default_model().icp.knockouts,
    )
    model = ScoringModel(icp=icp, rules=tuple(rules), fast_lane_min_grade="D")
    result = score_lead(model, lead, interactions, NOW)
    stored = json.loads(json.dumps(result.stored_explanation()))
    assert json.dumps(expand_explanation(stored, explanation_labels(model))) == json.dumps(
        result.explanation()
    )
    assert len(json.dumps(stored)) < len(json.dumps(result.explanation()))


def test_a_stored_explanation_without_its_model_is_labelled_by_keys():
    model = default_model()
    result = score_lead(
        model, LeadFacts(email="cto@acme.io", job_title="CTO"), [event(1, "demo_request")], NOW
    )
    expanded = expand_explanation(result.stored_explanation(), None)
    assert [c["label"] for c in expanded["fit"]["criteria"]] == [c.key for c in model.icp.criteria]
    rules = expanded["engagement"]["rules"]
    assert [r["key"] for r in rules] == [c.key for c in result.engagement.contributions] != []
    assert [r["label"] for r in rules] == [r["key"] for r in rules]
    old = result.explanation()  # stored before the compact form: read as it is
    assert expand_explanation(old, explanation_labels(model)) == old


def test_a_damaged_stored_explanation_reads_as_what_is_left_of_it():
    stored = {
        "format": 2,
        "fit": {"score": 40, "grade": "C", "criteria": [["size", True, 20, 400], ["short"], "junk"]},
        "engagement": {"score": 5, "rules": [[["odd"], 1, 5.0, 5.0, 5.0, False, [3]], [1, 2]]},
    }
    labels = ExplanationLabels(criteria={"size": "Company size"}, rules={})
    expanded = expand_explanation(stored, labels)
    assert [c["label"] for c in expanded["fit"]["criteria"]] == ["Company size"]
    assert [r["label"] for r in expanded["engagement"]["rules"]] == ["['odd']"]
    assert (
        expand_explanation({"format": 2, "fit": "junk", "engagement": None}, labels)["fit"]["criteria"] == []
    )
