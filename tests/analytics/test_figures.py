"""Each figure against the hand-computed history in conftest.py (June 2026)."""

import datetime as dt

import pytest

from analytics import selectors
from analytics.selectors import Filters

from .conftest import JUNE, rules

pytestmark = pytest.mark.django_db


def _conv(rows):
    return {r.key: (r.leads, r.sql, r.rate) for r in rows}


def test_funnel_counts_the_june_mql_cohort_and_how_far_it_got(history):
    funnel = selectors.funnel(filters=JUNE)
    # Cohort L1, L2, L3, L4, L7 (L5 was an MQL in May, L6 in July; L7 twice in June counts once).
    assert [(s.stage, s.leads) for s in funnel.steps] == [
        ("mql", 5),
        ("sal", 4),  # L1, L2, L4, L7
        ("sql", 2),  # L1, L2
        ("opportunity", 1),
        ("customer", 1),
    ]
    assert [s.rate_from_previous for s in funnel.steps] == [None, 80.0, 50.0, 50.0, 100.0]
    assert [s.rate_overall for s in funnel.steps] == [None, 80.0, 40.0, 20.0, 20.0]
    # Created in June: L1, L3, L8; of them L1 and L3 became MQLs.
    assert (funnel.created, funnel.promoted, funnel.promoted_rate) == (3, 2, 66.7)


def test_funnel_counts_stages_reached_after_the_range_ends(history):
    first_week = Filters(start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 5))
    funnel = selectors.funnel(filters=first_week)
    # L7 (1 June), L1 (2 June), L2 (4 June); L7's SAL on 16 June and L2's SQL on 8 June still count.
    assert [s.leads for s in funnel.steps] == [3, 3, 2, 1, 1]


def test_a_handoff_is_not_a_new_mql(history):
    # L5 became an MQL in May; a hand-off (mql -> mql) in June does not put it in June's cohort.
    history.move("L5", "handoff", "mql", "mql", dt.datetime(2026, 6, 25, tzinfo=dt.UTC))
    assert selectors.funnel(filters=JUNE).count("mql") == 5
    # A second promotion in the range does: L7 is in the cohort of 15 June alone.
    assert (
        selectors.funnel(filters=Filters(start=dt.date(2026, 6, 15), end=dt.date(2026, 6, 15))).count("mql")
        == 1
    )


def test_source_filter_narrows_every_figure(history):
    paid = Filters(start=JUNE.start, end=JUNE.end, source="paid")
    assert [s.leads for s in selectors.funnel(filters=paid).steps] == [2, 2, 2, 1, 1]
    assert selectors.funnel(filters=paid).created == 2  # L1 and L8
    assert {r.username: r.assigned for r in selectors.sla(filters=paid)} == {"ann": 2}  # L1, L2
    # L5 (paid) qualified in June after 312 h in SAL.
    assert {r.key: r.stays for r in selectors.stage_time(filters=paid)}["sal-sql"] == 3
    assert selectors.reasons(filters=paid, kind="rejections").grand_total == 0


def test_mql_to_sql_conversion_by_source_campaign_segment_and_grade(history):
    assert _conv(selectors.conversion(filters=JUNE, by="source")) == {
        "paid": (2, 2, 100.0),
        "organic": (2, 0, 0.0),
        "email": (1, 0, 0.0),
    }
    assert _conv(selectors.conversion(filters=JUNE, by="campaign")) == {
        "spring": (2, 2, 100.0),
        "(none)": (3, 0, 0.0),
    }
    segments = selectors.conversion(filters=JUNE, by="segment")
    # 1000 employees is enterprise; no company is unknown; shown smallest to largest.
    assert [(r.key, r.leads, r.sql) for r in segments] == [
        ("smb", 1, 1),
        ("mid_market", 1, 1),
        ("enterprise", 2, 0),
        ("unknown", 1, 0),
    ]
    assert segments[2].label == "Enterprise (1000+)"
    grades = selectors.conversion(filters=JUNE, by="grade")
    assert [(r.key, r.leads, r.sql, r.rate) for r in grades] == [
        ("A", 1, 1, 100.0),
        ("B", 2, 1, 50.0),
        ("C", 2, 0, 0.0),
    ]


def test_conversion_by_scoring_rule_counts_only_rules_that_gave_points(history):
    rows = selectors.conversion(filters=JUNE, by="rule")
    # careers_page_view and unsubscribe took points away; L4's page view gave 0; L7 has no explanation.
    assert [(r.key, r.label, r.leads, r.sql, r.rate) for r in rows] == [
        ("demo_request", "Rule demo_request", 2, 1, 50.0),  # L1 (SQL), L3
        ("page_view", "Rule page_view", 1, 1, 100.0),  # L1
        ("webinar_attendance", "Rule webinar_attendance", 1, 1, 100.0),  # L2
    ]


def test_a_rule_listed_twice_in_one_explanation_counts_its_lead_once(history):
    lead = history.leads["L1"]
    lead.score_explanation = rules(("demo_request", 40), ("demo_request", 10), ("page_view", 5))
    lead.score_explanation["engagement"]["rules"][1]["label"] = "Rule demo_request (v2)"
    lead.save(update_fields=["score_explanation"])
    rows = {r.key: (r.label, r.leads, r.sql) for r in selectors.conversion(filters=JUNE, by="rule")}
    # L1 and L3; the label is the greatest of those given, as before.
    assert rows["demo_request"] == ("Rule demo_request (v2)", 2, 1)
    drill = selectors.drill_down(figure="rule", key="demo_request", filters=JUNE)
    assert drill.total == 2


def test_compact_explanations_count_like_full_ones_with_the_models_labels(history):
    """Scoring stores [key, units, raw, decayed, points, capped, ids] per rule (no labels): the
    rule figures must count them like the older full form and name them in the model's words."""
    full = {r.key: (r.leads, r.sql) for r in selectors.conversion(filters=JUNE, by="rule")}
    for name in ("L1", "L3"):
        lead = history.leads[name]
        compact = [
            [r["key"], 1, r["points"], r["points"], r["points"], False, [1]]
            for r in lead.score_explanation["engagement"]["rules"]
        ]
        lead.score_explanation = {"format": 2, "engagement": {"rules": compact}, "model_version": 1}
        lead.save(update_fields=["score_explanation"])
    rows = {r.key: r for r in selectors.conversion(filters=JUNE, by="rule")}
    assert {key: (r.leads, r.sql) for key, r in rows.items()} == full
    assert rows["page_view"].label == "Viewed a page"  # from the default model, v1
    assert rows["demo_request"].leads == 2


def test_malformed_explanations_count_as_no_rules(history):
    lead = history.leads["L7"]
    lead.score_explanation = {
        "engagement": {"rules": [{"key": "x", "points": "lots"}, "junk", {"points": 3}]}
    }
    lead.save(update_fields=["score_explanation"])
    history.leads["L4"].score_explanation = {"engagement": {"rules": "not a list"}}
    history.leads["L4"].save(update_fields=["score_explanation"])
    assert [r.key for r in selectors.conversion(filters=JUNE, by="rule")] == [
        "demo_request",
        "page_view",
        "webinar_attendance",
    ]


def test_time_in_stage_median_and_p90_of_consecutive_changes(history):
    rows = {r.key: r for r in selectors.stage_time(filters=JUNE)}
    mql_sal = rows["mql-sal"]
    # 6, 12, 24 and 37 hours (L1's hand-off at 12:00 does not restart its 24 h in MQL).
    assert (mql_sal.stays, mql_sal.leads, mql_sal.median_hours, mql_sal.p90_hours) == (4, 4, 18.0, 33.1)
    sal_sql = rows["sal-sql"]
    # 48, 96 and L5's 312 hours (it entered SAL in May, left in June).
    assert (sal_sql.stays, sal_sql.median_hours, sal_sql.p90_hours) == (3, 96.0, 268.8)
    assert (rows["mql-recycled"].stays, rows["mql-recycled"].median_hours) == (2, 24.0)
    assert rows["recycled-mql"].median_hours == 312.0
    assert rows["sql-opportunity"].median_hours == 120.0
    assert rows["opportunity-customer"].median_hours == 240.0
    assert "mql-mql" not in rows
    # The success path first, in order; then the detours, the most frequent first.
    assert list(rows)[:5] == ["mql-sal", "sal-sql", "sql-opportunity", "opportunity-customer", "mql-recycled"]
    assert rows["mql-sal"].label == "MQL → SAL"


def test_time_in_stage_counts_stays_that_ended_in_the_range(history):
    may = Filters(start=dt.date(2026, 5, 1), end=dt.date(2026, 5, 31))
    rows = {r.key: r for r in selectors.stage_time(filters=may)}
    # Only L5's 24 h as an MQL ended in May (its SAL stay ended in June; L15's May change is its first).
    assert set(rows) == {"mql-sal"}
    assert (rows["mql-sal"].stays, rows["mql-sal"].median_hours) == (1, 24.0)


def test_sla_compliance_per_sdr(history):
    rows = {r.username: r for r in selectors.sla(filters=JUNE)}
    ann, ben = rows["ann"], rows["ben"]
    # ann: on time (22 h), late (11 h), rejected late (23 h), open past due, reassigned; May's is out.
    assert (ann.assigned, ann.decided, ann.on_time, ann.late, ann.overdue) == (5, 3, 1, 2, 1)
    assert (ann.compliance, ann.median_hours) == (33.3, 22.0)
    # ben: on time (6 h), late (36 h), open and not yet due.
    assert (ben.assigned, ben.decided, ben.on_time, ben.late, ben.overdue) == (3, 2, 1, 1, 0)
    assert (ben.compliance, ben.median_hours) == (50.0, 21.0)
    assert list(rows) == ["ann", "ben"]


def test_rejection_reasons_per_week(history):
    data = selectors.reasons(filters=JUNE, kind="rejections")
    assert data.bucket == "week"
    assert data.periods == [dt.date(2026, 6, d) for d in (1, 8, 15, 22, 29)]
    assert data.reasons == ["not_a_fit", "no_interest"]
    assert data.series("not_a_fit") == [1, 1, 0, 0, 0]  # L3 (Sunday 7 June), L13 (9 June); L14 in May
    assert data.series("no_interest") == [1, 0, 0, 0, 0]
    assert data.grand_total == 3


def test_disqualification_reasons_include_losses_but_not_recycling(history):
    data = selectors.reasons(filters=JUNE, kind="disqualifications")
    assert {r: data.total(r) for r in data.reasons} == {"competitor": 1, "lost": 1, "(none)": 1}
    assert data.series("lost") == [0, 0, 1, 0, 0]
    assert data.series("(none)") == [0, 0, 0, 1, 0]


def test_long_ranges_are_shown_per_month(history):
    year = Filters(start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    data = selectors.reasons(filters=year, kind="rejections")
    assert data.bucket == "month"
    assert len(data.periods) == 12
    assert data.series("not_a_fit")[4:6] == [1, 2]  # May: L14; June: L3, L13


def test_score_calibration_by_band(history):
    bands = selectors.calibration(filters=JUNE)
    assert [b.label for b in bands][:2] == ["0–9", "10–19"] and bands[9].label == "90–100"
    assert [(b.leads, b.converted) for b in bands] == [
        (1, 0),  # L16 (score -5, clamped)
        (1, 0),  # L13
        (0, 0),
        (0, 0),
        (2, 0),  # L3, L7
        (1, 1),  # L2: 55 in the ledger before its first verdict (72 now)
        (2, 1),  # L17 won, L18 not converted
        (1, 0),  # L4
        (2, 1),  # L1; L15 lost (its SQL was in May)
        (1, 1),  # L5 (score 100)
    ]
    assert [b.rate for b in bands] == [0.0, 0.0, None, None, 0.0, 100.0, 50.0, 0.0, 50.0, 100.0]


def test_a_lead_that_was_rejected_and_then_reached_sql_counts_as_converted(history):
    history.move("L7", "qualify", "sal", "sql", dt.datetime(2026, 6, 25, tzinfo=dt.UTC))
    bands = selectors.calibration(filters=JUNE)
    assert (bands[4].leads, bands[4].converted) == (2, 1)


def test_empty_range_gives_zeros_not_errors(history):
    empty = Filters(start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 31))
    assert [s.leads for s in selectors.funnel(filters=empty).steps] == [0, 0, 0, 0, 0]
    assert selectors.funnel(filters=empty).steps[1].rate_from_previous is None
    assert selectors.conversion(filters=empty, by="rule") == []
    assert selectors.stage_time(filters=empty) == []
    assert selectors.sla(filters=empty) == []
    assert sum(b.leads for b in selectors.calibration(filters=empty)) == 0


def test_sources_lists_each_source_once_in_order(history):
    assert selectors.sources() == ["email", "organic", "organic_search", "paid"]


def test_stages_reached_before_becoming_an_mql_again_do_not_count(history):
    # L21 was a SAL in May, recycled, and an MQL again in June that nobody accepted (yet).
    history.lead("L21", source="paid")
    for action, from_stage, to_stage, day in [
        ("promote", "lead", "mql", 1),
        ("accept", "mql", "sal", 2),
        ("recycle", "sal", "recycled", 5),
    ]:
        history.move("L21", action, from_stage, to_stage, dt.datetime(2026, 5, day, tzinfo=dt.UTC))
    history.move("L21", "promote", "recycled", "mql", dt.datetime(2026, 6, 10, tzinfo=dt.UTC))
    funnel = selectors.funnel(filters=JUNE)
    assert (funnel.count("mql"), funnel.count("sal")) == (6, 4)
