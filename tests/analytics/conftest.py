"""A small closed-loop history with explicit timestamps, whose every figure is computed by hand.

The range under test is June 2026 (UTC); "now" is 15 July 2026, 12:00. The comments next to each
lead say what it contributes; test_figures.py spells out the arithmetic.
"""

import datetime as dt
from dataclasses import dataclass, field

import pytest
import time_machine

from analytics.selectors import Filters
from handoff.models import Assignment, StageChange
from leadqual.celery import app
from leads.models import Lead, Outcome
from scoring.models import ScoreChange, ScoringModel
from tests.factories import CompanyFactory, LeadFactory, UserFactory

NOW = dt.datetime(2026, 7, 15, 12, 0, tzinfo=dt.UTC)
JUNE = Filters(start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30))


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


def rules(*pairs) -> dict:
    return {
        "engagement": {"rules": [{"key": k, "label": f"Rule {k}", "points": p} for k, p in pairs]},
        "fit": {"grade": "B"},
    }


@dataclass
class History:
    leads: dict[str, Lead] = field(default_factory=dict)
    ann: object = None
    ben: object = None

    def lead(self, name, *, created=None, employees=250, company=True, **kwargs) -> Lead:
        company_obj = CompanyFactory(employee_count=employees) if company else None
        lead = LeadFactory(email=f"{name.lower()}@history.example", company=company_obj, **kwargs)
        Lead.objects.filter(pk=lead.pk).update(created_at=created or at(5, 1))
        self.leads[name] = lead
        return lead

    def move(self, name, action, from_stage, to_stage, when, reason=""):
        StageChange.objects.create(
            lead=self.leads[name],
            action=action,
            from_stage=from_stage,
            to_stage=to_stage,
            reason=reason,
            created_at=when,
        )

    def assign(self, name, owner, assigned, due, status="open", resolved=None):
        Assignment.objects.create(
            lead=self.leads[name],
            owner=owner,
            status=status,
            assigned_at=assigned,
            sla_due_at=due,
            escalate_at=due + dt.timedelta(hours=4),
            resolved_at=resolved,
        )


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Every test here logs users in; PBKDF2 would make user creation most of the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_refreshes():
    # The page has its figures computed by a Celery task (analytics/figures.py); run it inline,
    # as a worker would, so a first view shows figures. test_freshness.py covers the queue.
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def history(db, frozen) -> History:
    h = History(
        ann=UserFactory(username="ann", roles=["sales"]), ben=UserFactory(username="ben", roles=["sales"])
    )

    # L1: the whole way to customer. paid / spring / SMB / A; demo + page view rules.
    h.lead(
        "L1",
        created=at(6, 1),
        employees=50,
        source="paid",
        utm_campaign="spring",
        fit_grade="A",
        score=85,
        score_explanation=rules(("demo_request", 40), ("page_view", 5), ("careers_page_view", -10)),
    )
    h.move("L1", "promote", "lead", "mql", at(6, 2, 10))
    h.move("L1", "handoff", "mql", "mql", at(6, 2, 12))  # not a change of stage
    h.move("L1", "accept", "mql", "sal", at(6, 3, 10))  # 24 h in MQL
    h.move("L1", "qualify", "sal", "sql", at(6, 5, 10))  # 48 h in SAL
    h.move("L1", "convert", "sql", "opportunity", at(6, 10, 10))  # 120 h
    h.move("L1", "win", "opportunity", "customer", at(6, 20, 10))  # 240 h

    # L2: to SQL. paid / spring / mid-market / B; webinar rule (+), unsubscribe (-).
    h.lead(
        "L2",
        employees=500,
        source="paid",
        utm_campaign="spring",
        fit_grade="B",
        score=72,
        score_explanation=rules(("webinar_attendance", 10), ("unsubscribe", -20)),
    )
    h.move("L2", "promote", "lead", "mql", at(6, 4))
    h.move("L2", "handoff", "mql", "mql", at(6, 4, 1))
    h.move("L2", "accept", "mql", "sal", at(6, 4, 12))  # 12 h
    h.move("L2", "qualify", "sal", "sql", at(6, 8, 12))  # 96 h

    # L3: rejected. organic / no campaign / no company / B; demo rule.
    h.lead(
        "L3",
        created=at(6, 1),
        company=False,
        source="organic",
        fit_grade="B",
        score=45,
        score_explanation=rules(("demo_request", 40)),
    )
    h.move("L3", "promote", "lead", "mql", at(6, 6))
    h.move("L3", "handoff", "mql", "mql", at(6, 6, 1))
    h.move("L3", "reject", "mql", "recycled", at(6, 7), reason="not_a_fit")  # 24 h, Sunday

    # L4: accepted, then disqualified. organic / enterprise / C; a rule with 0 points.
    h.lead(
        "L4",
        employees=5000,
        source="organic",
        fit_grade="C",
        score=78,
        score_explanation=rules(("page_view", 0)),
    )
    h.move("L4", "promote", "lead", "mql", at(6, 10))
    h.move("L4", "accept", "mql", "sal", at(6, 10, 6))  # 6 h
    h.move("L4", "disqualify", "sal", "disqualified", at(6, 12, 6), reason="competitor")  # 48 h

    # L5: MQL and SAL in May (outside the cohort), SQL in June: only its SAL stay counts.
    h.lead("L5", source="paid", score=100)
    h.move("L5", "promote", "lead", "mql", at(5, 20))
    h.move("L5", "accept", "mql", "sal", at(5, 21))
    h.move("L5", "qualify", "sal", "sql", at(6, 3))  # 312 h in SAL, ended in June

    # L6: MQL in July: outside everything.
    h.lead("L6", source="paid")
    h.move("L6", "promote", "lead", "mql", at(7, 2))

    # L7: MQL twice in June (counted once, from 1 June); rejected, back, accepted.
    h.lead("L7", employees=1000, source="email", fit_grade="C", score=48)
    h.move("L7", "promote", "lead", "mql", at(6, 1, 8))
    h.move("L7", "reject", "mql", "recycled", at(6, 2, 8), reason="no_interest")  # 24 h
    h.move("L7", "promote", "recycled", "mql", at(6, 15, 8))  # 312 h recycled
    h.move("L7", "handoff", "mql", "mql", at(6, 15, 9))
    h.move("L7", "accept", "mql", "sal", at(6, 16, 21))  # 37 h

    # L8: created in June, never an MQL.
    h.lead("L8", created=at(6, 3), source="paid")

    # Rejections and disqualifications outside the cohort.
    h.lead("L13", score=15)
    h.move("L13", "reject", "mql", "recycled", at(6, 9), reason="not_a_fit")
    h.lead("L14", score=50)
    h.move("L14", "reject", "mql", "recycled", at(5, 28), reason="not_a_fit")  # May: out
    h.lead("L15", score=81)
    h.move("L15", "qualify", "sal", "sql", at(5, 10))  # May: not a June verdict
    h.move("L15", "lose", "sql", "disqualified", at(6, 20), reason="lost")
    h.lead("L16", score=-5)
    h.move("L16", "disqualify", "mql", "disqualified", at(6, 22))  # no reason
    h.lead("L20", score=30)
    h.move("L20", "recycle", "sal", "recycled", at(6, 23), reason="no_budget_now")  # not a rejection

    # Outcomes from downstream systems.
    for name, score, result, when in [
        ("L17", 65, "won", at(6, 18)),
        ("L18", 62, "not_converted", at(6, 19)),
        ("L19", 90, "lost", at(5, 15)),  # May: out
    ]:
        h.lead(name, score=score)
        Outcome.objects.create(lead=h.leads[name], result=result, occurred_at=when)

    # The ledger: L2 scored 55 before its first verdict (8 June) and 72 only later.
    model = ScoringModel.objects.create(name="test", version=99, definition={})
    for when, score in [(at(6, 1), 55), (at(6, 20), 72)]:
        ScoreChange.objects.create(
            lead=h.leads["L2"],
            model=model,
            computed_at=when,
            cause="activity",
            kind="total",
            points=0,
            value_after=score,
            score_after=score,
            fit_grade_after="B",
            engagement_after=0,
        )

    # Hand-offs. ann: on time, late, late (rejected), open overdue, reassigned, one in May.
    for name in ("L9", "L10", "L11", "L12"):
        h.lead(name)
    h.assign("L1", h.ann, at(6, 2, 12), at(6, 3, 12), "accepted", at(6, 3, 10))  # 22 h, on time
    h.assign("L2", h.ann, at(6, 4, 1), at(6, 4, 5), "accepted", at(6, 4, 12))  # 11 h, late
    h.assign("L3", h.ann, at(6, 6, 1), at(6, 6, 9), "rejected", at(6, 7))  # 23 h, late
    h.assign("L9", h.ann, at(6, 20), at(6, 21))  # open, overdue
    h.assign("L10", h.ann, at(6, 25), at(6, 26), "reassigned", at(6, 25, 12))
    h.assign("L11", h.ann, at(5, 30), at(5, 31), "accepted", at(5, 30, 2))  # May: out
    # ben: on time, late, open but not yet due.
    h.assign("L4", h.ben, at(6, 10, 0, 30), at(6, 10, 8), "accepted", at(6, 10, 6, 30))  # 6 h
    h.assign("L7", h.ben, at(6, 15, 9), at(6, 16, 9), "accepted", at(6, 16, 21))  # 36 h, late
    h.assign("L12", h.ben, at(6, 28), at(8, 1))
    return h
