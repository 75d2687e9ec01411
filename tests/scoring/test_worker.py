import pytest
from django.utils import timezone

from handoff.models import StageChange
from leads.models import Lead
from tests.worker import running_worker, wait_until, worker_backends

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_interactions_posted_to_the_api_make_the_lead_an_mql_through_a_real_worker(api):
    # transaction=True: the API commits, so on_commit really enqueues to Redis.
    lead = {
        "email": "vp@bigsoft.io",
        "job_title": "VP Engineering",
        "country": "US",
        "company": {
            "name": "BigSoft",
            "domain": "bigsoft.io",
            "industry": "software",
            "employee_count": 800,
            "annual_revenue": 90_000_000,
        },
    }
    with running_worker():
        assert api.post("/api/v1/leads/", lead, format="json").status_code == 201
        now = timezone.now().isoformat()
        events = [
            {"email": "vp@bigsoft.io", "type": t, "occurred_at": now, "external_id": f"e{i}"}
            for i, t in enumerate(["pricing_page_view", "webinar_attendance", "demo_request"])
        ]
        assert api.post("/api/v1/interactions/", {"interactions": events}, format="json").status_code == 200
        assert wait_until(lambda: Lead.objects.get(email="vp@bigsoft.io").stage == "mql"), (
            "never became an MQL"
        )
    lead = Lead.objects.get(email="vp@bigsoft.io")
    assert lead.needs_rescore is False
    assert lead.engagement_score > 0
    assert StageChange.objects.filter(lead=lead, to_stage="mql", actor_label="scoring engine").count() == 1


def test_the_worker_keeps_its_database_connection_from_one_task_to_the_next():
    """Celery's Django fixup would open a new PostgreSQL backend for every task (~60 ms of
    server CPU per 1,000-lead chunk); the worker follows CONN_MAX_AGE instead."""
    from scoring.tasks import rescore_leads_task

    first, second = (
        Lead.objects.create(email=f"{name}@bigsoft.io", needs_rescore=True).pk for name in ("one", "two")
    )
    with running_worker():
        rescore_leads_task.delay([first])
        assert wait_until(lambda: not Lead.objects.get(pk=first).needs_rescore)
        after_first = worker_backends()
        rescore_leads_task.delay([second])
        assert wait_until(lambda: not Lead.objects.get(pk=second).needs_rescore)
        after_second = worker_backends()
    assert len(after_first) == 1, after_first  # the worker's connection outlived its task
    assert after_second == after_first  # and served the next one: same backend, same start
