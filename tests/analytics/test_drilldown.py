"""The list behind every number has exactly that many rows, with the same filters."""

import datetime as dt

import pytest

from analytics import selectors
from analytics.selectors import Filters
from handoff.models import StageChange
from tests.factories import LeadFactory

from .conftest import JUNE

pytestmark = pytest.mark.django_db

PAID = Filters(start=JUNE.start, end=JUNE.end, source="paid")


def total(figure, key, filters=JUNE, converted=False):
    return selectors.drill_down(figure=figure, key=key, filters=filters, converted=converted).total


def figures_and_drills(filters):
    """(figure, key, converted, the figure's number) for every number the page links to."""
    funnel = selectors.funnel(filters=filters)
    yield "funnel", "created", False, funnel.created
    yield "funnel", "promoted", False, funnel.promoted
    for step in funnel.steps:
        yield "funnel", step.stage, False, step.leads
    for by in ("source", "campaign", "segment", "grade", "rule"):
        for row in selectors.conversion(filters=filters, by=by):
            yield by, row.key, False, row.leads
            yield by, row.key, True, row.sql
    for row in selectors.stage_time(filters=filters):
        yield "stage_time", row.key, False, row.stays
    for row in selectors.sla(filters=filters):
        for measure in selectors.SLA_MEASURES:
            yield "sla", f"{row.username}:{measure}", False, getattr(row, measure)
    for kind in selectors.REASON_KINDS:
        data = selectors.reasons(filters=filters, kind=kind)
        for reason in data.reasons:
            yield kind, reason, False, data.total(reason)
            for period, n in zip(data.periods, data.series(reason), strict=True):
                yield kind, f"{reason}@{period.isoformat()}", False, n
    for band in selectors.calibration(filters=filters):
        yield "calibration", str(band.band), False, band.leads
        yield "calibration", str(band.band), True, band.converted


@pytest.mark.parametrize("filters", [JUNE, PAID], ids=["june", "june-paid"])
def test_every_drill_down_count_equals_its_figure(history, filters):
    checked = 0
    for figure, key, converted, expected in figures_and_drills(filters):
        assert total(figure, key, filters, converted) == expected, (figure, key, converted)
        checked += 1
    assert checked > 60 if filters is JUNE else checked > 20
    # Every figure of the page is covered.
    assert {f for f, *_ in figures_and_drills(filters)} >= {"funnel", "source", "stage_time", "calibration"}


def test_drill_down_rows_are_the_leads_behind_the_number(history):
    page = selectors.drill_down(figure="funnel", key="sql", filters=JUNE)
    assert {r.lead.email for r in page.rows} == {"l1@history.example", "l2@history.example"}
    assert page.rows[0].lead.email == "l2@history.example"  # newest MQL first
    late = selectors.drill_down(figure="sla", key="ann:late", filters=JUNE)
    assert [r.lead.email for r in late.rows] == ["l3@history.example", "l2@history.example"]
    assert late.rows[0].info == "rejected after 23.0 h"
    stays = selectors.drill_down(figure="stage_time", key="sal-sql", filters=JUNE)
    assert sorted(r.info for r in stays.rows) == ["312.0 h in sal", "48.0 h in sal", "96.0 h in sal"]
    week = selectors.drill_down(figure="rejections", key="not_a_fit@2026-06-08", filters=JUNE)
    assert [r.lead.email for r in week.rows] == ["l13@history.example"]


def test_drill_down_pages_hold_fifty_rows(history):
    leads = LeadFactory.create_batch(55, source="bulk")
    StageChange.objects.bulk_create(
        StageChange(
            lead=lead,
            action="promote",
            from_stage="lead",
            to_stage="mql",
            created_at=dt.datetime(2026, 6, 20, tzinfo=dt.UTC) + dt.timedelta(minutes=i),
        )
        for i, lead in enumerate(leads)
    )
    first = selectors.drill_down(figure="source", key="bulk", filters=JUNE)
    second = selectors.drill_down(figure="source", key="bulk", filters=JUNE, page=2)
    assert (first.total, len(first.rows), first.has_next) == (55, 50, True)
    assert (len(second.rows), second.has_next) == (5, False)
    assert {r.lead_id for r in first.rows}.isdisjoint({r.lead_id for r in second.rows})
    assert first.rows[0].lead_id == leads[-1].pk


@pytest.mark.parametrize(
    ("figure", "key"),
    [
        ("nope", "x"),
        ("funnel", "lead"),
        ("stage_time", "mql"),
        ("sla", "ann:later"),
        ("calibration", "10"),
        ("rejections", "x@not-a-date"),
    ],
)
def test_unknown_figures_and_keys_are_refused(db, figure, key):
    with pytest.raises(selectors.UnknownFigure):
        selectors.drill_down(figure=figure, key=key, filters=JUNE)


def test_a_page_past_the_end_still_knows_the_total(history):
    page = selectors.drill_down(figure="funnel", key="mql", filters=JUNE, page=3)
    assert (page.total, page.rows, page.has_next) == (5, [], False)


def test_the_report_indexes_exist(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'analytics_%%'")
        assert {row[0] for row in cursor.fetchall()} == {
            "analytics_stagechange_to_time",
            "analytics_stagechange_lead_time",
            "analytics_assignment_assigned",
        }
