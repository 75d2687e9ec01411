"""The cached page (analytics/figures.py) against the live SQL, and how it catches up with new data.

The fast path must give exactly the numbers of the live computation for every filter set, on a
generated history big enough to fill every figure; and new stage changes and outcomes must show
once the figures are refreshed (by a stale view, beat, or the Refresh button).
"""

import dataclasses
import datetime as dt
import random

import pytest
import time_machine

from analytics import figures, tasks
from analytics.forms import default_filters
from analytics.selectors import Filters
from handoff.models import Assignment, StageChange
from leadqual.celery import app
from leads.models import Lead, Outcome
from scoring.models import ScoreChange, ScoringModel
from tests.factories import CompanyFactory, LeadFactory, UserFactory

from .conftest import JUNE, NOW, at, rules

pytestmark = pytest.mark.django_db

# Paths through the lifecycle, as the handoff services write them.
CHAINS = [
    [("promote", "lead", "mql")],
    [("promote", "lead", "mql"), ("handoff", "mql", "mql")],
    [("promote", "lead", "mql"), ("handoff", "mql", "mql"), ("accept", "mql", "sal")],
    [("promote", "lead", "mql"), ("handoff", "mql", "mql"), ("reject", "mql", "recycled")],
    [("promote", "lead", "mql"), ("accept", "mql", "sal"), ("qualify", "sal", "sql")],
    [
        ("promote", "lead", "mql"),
        ("handoff", "mql", "mql"),
        ("accept", "mql", "sal"),
        ("qualify", "sal", "sql"),
        ("convert", "sql", "opportunity"),
        ("win", "opportunity", "customer"),
    ],
    [
        ("promote", "lead", "mql"),
        ("accept", "mql", "sal"),
        ("qualify", "sal", "sql"),
        ("lose", "sql", "disqualified"),
    ],
    [("disqualify", "lead", "disqualified")],
    [
        ("promote", "lead", "mql"),
        ("accept", "mql", "sal"),
        ("recycle", "sal", "recycled"),
        ("promote", "recycled", "mql"),
    ],
    [
        ("promote", "lead", "mql"),
        ("reject", "mql", "recycled"),
        ("promote", "recycled", "mql"),
        ("accept", "mql", "sal"),
    ],
]
REASONS = {
    "reject": ["not_a_fit", "no_interest", ""],
    "disqualify": ["competitor", ""],
    "lose": ["lost", "price"],
}
RULES = ["demo_request", "page_view", "webinar_attendance", "pricing_page_view"]


@pytest.fixture
def generated(db, frozen):
    """~120 leads with random journeys between April and mid-July 2026 (seeded: the same every run)."""
    rng = random.Random(20260615)
    sdrs = [UserFactory(username=f"sdr{i}", roles=["sales"]) for i in range(3)]
    model = ScoringModel.objects.create(name="generated", version=7, definition={})
    changes, assignments, outcomes, ledger = [], [], [], []
    start = at(4, 1)
    for i in range(120):
        company = (
            CompanyFactory(employee_count=rng.choice([None, 20, 150, 999, 1000, 8000])) if i % 7 else None
        )
        lead = LeadFactory(
            email=f"g{i}@generated.example",
            company=company,
            source=rng.choice(["paid", "organic", "email", ""]),
            utm_campaign=rng.choice(["spring", "summer", ""]),
            fit_grade=rng.choice("ABCD"),
            score=rng.randint(-5, 100),
            score_explanation=rules(*((k, rng.choice([-5, 0, 5, 20])) for k in rng.sample(RULES, 2))),
        )
        created = start + dt.timedelta(hours=rng.uniform(0, 100 * 24))
        Lead.objects.filter(pk=lead.pk).update(created_at=created)
        when = created
        for action, from_stage, to_stage in rng.choice(CHAINS):
            when += dt.timedelta(hours=rng.uniform(1, 200))
            if when >= NOW:
                break
            reason = rng.choice(REASONS.get(action, [""]))
            changes.append(
                StageChange(
                    lead=lead,
                    action=action,
                    from_stage=from_stage,
                    to_stage=to_stage,
                    reason=reason,
                    created_at=when,
                )
            )
            if action == "handoff":
                due = when + dt.timedelta(hours=rng.choice([2, 8, 48]))
                status = rng.choice(["open", "accepted", "rejected", "reassigned"])
                resolved = None if status == "open" else when + dt.timedelta(hours=rng.uniform(0.5, 60))
                assignments.append(
                    Assignment(
                        lead=lead,
                        owner=rng.choice(sdrs),
                        status=status,
                        assigned_at=when,
                        sla_due_at=due,
                        escalate_at=due + dt.timedelta(hours=4),
                        resolved_at=resolved,
                    )
                )
        if rng.random() < 0.3:
            outcomes.append(
                Outcome(
                    lead=lead,
                    result=rng.choice(["won", "lost", "converted", "not_converted"]),
                    occurred_at=created + dt.timedelta(days=rng.uniform(1, 60)),
                )
            )
        if rng.random() < 0.5:
            ledger.append(
                ScoreChange(
                    lead=lead,
                    model=model,
                    computed_at=created + dt.timedelta(hours=1),
                    cause="activity",
                    kind="total",
                    points=0,
                    value_after=0,
                    score_after=rng.randint(0, 100),
                    fit_grade_after="B",
                    engagement_after=0,
                )
            )
    StageChange.objects.bulk_create(changes)
    Assignment.objects.bulk_create(assignments)
    Outcome.objects.bulk_create(outcomes)
    ScoreChange.objects.bulk_create(ledger)
    return {"changes": len(changes), "assignments": len(assignments), "outcomes": len(outcomes)}


def numbers(page: figures.PageFigures) -> figures.PageFigures:
    """Everything but the moment it was computed."""
    return dataclasses.replace(page, computed_at=None)


FILTER_SETS = [
    JUNE,
    Filters(start=JUNE.start, end=JUNE.end, source="paid"),
    Filters(start=JUNE.start, end=JUNE.end, source="organic"),
    Filters(start=dt.date(2026, 4, 1), end=dt.date(2026, 7, 15)),  # monthly buckets
    Filters(start=dt.date(2026, 6, 10), end=dt.date(2026, 6, 10)),
    Filters(start=dt.date(2023, 7, 15), end=dt.date(2026, 7, 15)),
    Filters(start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 31)),  # empty
]


def test_cached_figures_equal_the_live_sql_for_every_filter_set(generated):
    assert generated["changes"] > 200 and generated["assignments"] > 20 and generated["outcomes"] > 20
    served = {}
    for filters in FILTER_SETS:
        first = figures.page_figures(filters)
        assert first.state == "live"
        served[filters] = figures.page_figures(filters)
        assert served[filters].state == "fresh"
        assert served[filters].figures.computed_at == first.figures.computed_at
    # Read back after every filter set is in the cache: no filter set sees another's figures.
    for filters in FILTER_SETS:
        again = figures.page_figures(filters)
        assert again.state == "fresh"
        assert numbers(again.figures) == numbers(figures.compute(filters)), filters
    june = served[JUNE].figures
    # The generated data fills every figure, so the comparison above compares something.
    assert june.cohort.funnel.count("mql") > 10 and june.cohort.funnel.count("sql") > 0
    assert all(june.cohort.by[d] for d in ("source", "campaign", "segment", "grade", "rule"))
    assert june.stage_time and june.sla and june.rejections.grand_total and june.disqualifications.grand_total
    assert sum(b.leads for b in june.calibration) > 10
    paid = served[FILTER_SETS[1]].figures
    assert paid.cohort.funnel.count("mql") < june.cohort.funnel.count("mql")


def test_the_page_shows_the_cached_numbers_and_when_they_were_computed(client, generated, marketer):
    client.force_login(marketer)
    live = figures.compute(JUNE)
    html = client.get("/analytics/?start=2026-06-01&end=2026-06-30").content.decode()
    assert f'<span class="n">{live.cohort.funnel.count("mql")}</span> MQLs in the cohort' in html
    assert 'Figures as of <time datetime="2026-07-15T12:00:00+00:00">12:00</time>' in html
    assert '<button type="submit">Refresh now</button>' in html


def test_new_stage_changes_show_once_the_figures_go_stale(generated):
    before = figures.page_figures(JUNE).figures.cohort.funnel.count("mql")
    newcomer = LeadFactory(email="new@generated.example", source="paid")
    StageChange.objects.create(
        lead=newcomer, action="promote", from_stage="lead", to_stage="mql", created_at=at(6, 20)
    )
    # Within FRESH_FOR the page keeps the figures it has (that is the promise: minutes fresh).
    assert figures.page_figures(JUNE).figures.cohort.funnel.count("mql") == before
    with time_machine.travel(NOW + figures.FRESH_FOR + dt.timedelta(seconds=1), tick=False):
        # Served as it was; the refresh it queued has run (eagerly, as a worker would).
        stale = figures.page_figures(JUNE)
        assert (stale.state, stale.figures.cohort.funnel.count("mql")) == ("stale", before)
        fresh = figures.page_figures(JUNE)
        assert fresh.state == "fresh"
        assert fresh.figures.cohort.funnel.count("mql") == before + 1
        assert numbers(fresh.figures) == numbers(figures.compute(JUNE))


@pytest.fixture
def queue(monkeypatch):
    """No worker: refresh tasks are only recorded."""
    app.conf.task_always_eager = False  # the autouse fixture in conftest.py restores it
    queued = []
    monkeypatch.setattr(tasks.refresh_figures_task, "delay", lambda **kwargs: queued.append(kwargs))
    return queued


def test_a_range_nobody_computed_is_queued_once_and_the_page_says_so(client, generated, marketer, queue):
    client.force_login(marketer)
    url = "/analytics/?start=2026-06-01&end=2026-06-30&source=paid"
    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Computing the figures for this range" in html
        assert '<meta http-equiv="refresh" content="2">' in html
        assert "<svg" not in html
    assert queue == [{"start": "2026-06-01", "end": "2026-06-30", "source": "paid"}]
    tasks.refresh_figures_task(**queue[0])  # the worker
    html = client.get(url).content.decode()
    paid = figures.compute(Filters(start=JUNE.start, end=JUNE.end, source="paid"))
    assert f'<span class="n">{paid.cohort.funnel.count("mql")}</span> MQLs in the cohort' in html
    assert html.count("<svg") == 12


def test_a_stale_page_queues_one_refresh_at_a_time(generated, queue):
    figures.refresh(JUNE)
    with time_machine.travel(NOW + figures.FRESH_FOR + dt.timedelta(seconds=1), tick=False):
        assert [figures.page_figures(JUNE).state for _ in range(3)] == ["stale"] * 3
        assert len(queue) == 1
        tasks.refresh_figures_task(**queue[0])  # done: it releases its lock
        assert figures.page_figures(JUNE).state == "fresh"


def test_beat_refreshes_the_default_page_with_new_outcomes(generated):
    default = default_filters()
    tasks.refresh_default_figures_task()
    cached = figures.page_figures(default)
    assert cached.state == "fresh"
    lead = LeadFactory(email="won@generated.example", score=35)
    Outcome.objects.create(lead=lead, result="won", occurred_at=at(7, 1))
    band = cached.figures.calibration[3]
    tasks.refresh_default_figures_task()
    refreshed = figures.page_figures(default).figures
    assert (refreshed.calibration[3].leads, refreshed.calibration[3].converted) == (
        band.leads + 1,
        band.converted + 1,
    )
    assert numbers(refreshed) == numbers(figures.compute(default))


def test_refresh_button_recomputes_now(client, generated, marketer):
    client.force_login(marketer)
    client.get("/analytics/?start=2026-06-01&end=2026-06-30")
    lead = LeadFactory(email="late@generated.example", source="paid")
    StageChange.objects.create(
        lead=lead, action="promote", from_stage="lead", to_stage="mql", created_at=at(6, 29)
    )
    expected = figures.compute(JUNE).cohort.funnel.count("mql")
    response = client.post("/analytics/refresh/", {"start": "2026-06-01", "end": "2026-06-30"})
    assert response.status_code == 302
    assert response.url == "/analytics/?start=2026-06-01&end=2026-06-30"
    assert figures.page_figures(JUNE).figures.cohort.funnel.count("mql") == expected
    html = client.get(response.url).content.decode()
    assert f'<span class="n">{expected}</span> MQLs in the cohort' in html


def test_refresh_keeps_the_source_and_needs_a_post_and_a_role(client, generated, marketer):
    client.force_login(marketer)
    response = client.post(
        "/analytics/refresh/", {"start": "2026-06-01", "end": "2026-06-30", "source": "paid"}
    )
    assert response.url == "/analytics/?start=2026-06-01&end=2026-06-30&source=paid"
    assert figures.page_figures(Filters(start=JUNE.start, end=JUNE.end, source="paid")).state == "fresh"
    assert client.get("/analytics/refresh/").status_code == 405
    client.force_login(UserFactory())
    assert client.post("/analytics/refresh/", {"start": "2026-06-01"}).status_code == 403


def test_an_older_computation_does_not_replace_a_newer_one(generated):
    newer = figures.refresh(JUNE)
    with time_machine.travel(NOW - dt.timedelta(minutes=1), tick=False):
        figures.refresh(JUNE)
    assert figures.page_figures(JUNE).figures.computed_at == newer.computed_at


def test_without_the_cache_the_page_computes_live(generated, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    for method in ("get", "set", "add", "delete"):
        monkeypatch.setattr(figures.cache, method, down)
    served = figures.page_figures(JUNE)
    assert served.state == "live"
    assert numbers(served.figures) == numbers(figures.compute(JUNE))
    assert figures.sources() == sorted({"paid", "organic", "email"})
