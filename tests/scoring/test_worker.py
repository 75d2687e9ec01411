import pytest
from django.utils import timezone

from handoff.models import StageChange
from leads.models import Lead
from tests.worker import running_worker, wait_until

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
