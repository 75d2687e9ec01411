import pytest
from django.utils import timezone

from leads import services as lead_services
from scoring import tasks
from scoring.models import RescoreJob, ScoringModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored_lead():
    lead_id = lead_services.lead_upsert(
        data={
            "email": "cto@acme-soft.io",
            "job_title": "CTO",
            "country": "US",
            "company": {"industry": "software", "employee_count": 300, "annual_revenue": 30_000_000},
        }
    ).lead_id
    lead_services.interactions_record(
        items=[{"lead_id": lead_id, "type": "webinar_attendance", "occurred_at": timezone.now()}]
    )
    tasks.rescore_leads_task(lead_ids=[lead_id])
    return lead_id


def test_score_history_lists_the_ledger_newest_first(api, scored_lead):
    response = api.get(f"/api/v1/leads/{scored_lead}/score-history/")
    assert response.status_code == 200
    rows = response.data["results"]
    assert rows and {"model_version", "rule", "event", "points", "time"} <= set(rows[0])
    assert any(r["kind"] == "total" for r in rows)
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_lead_detail_carries_the_current_explanation(api, scored_lead):
    detail = api.get(f"/api/v1/leads/{scored_lead}/").data
    rules = detail["score_explanation"]["engagement"]["rules"]
    assert rules and all(r["label"] and r["label"] != r["key"] for r in rules)  # the model's words
    assert detail["engagement_score"] == detail["score_explanation"]["engagement"]["score"]
    criteria = detail["score_explanation"]["fit"]["criteria"]
    assert {"key", "label", "matched", "points", "value"} <= set(criteria[0])


def test_marketing_creates_edits_backtests_and_activates_a_draft(as_user, marketer, scored_lead):
    from django.test import Client

    client = Client()
    client.force_login(marketer)
    created = client.post("/api/v1/scoring-models/", {"name": "Lower bar"}, content_type="application/json")
    assert created.status_code == 201, created.content
    draft = created.json()
    assert draft["status"] == "draft"
    definition = {**draft["definition"], "mql_engagement_threshold": 5}
    edited = client.patch(
        f"/api/v1/scoring-models/{draft['id']}/", {"definition": definition}, content_type="application/json"
    )
    assert edited.status_code == 200
    backtest = client.get(f"/api/v1/scoring-models/{draft['id']}/backtest/").json()
    assert backtest["leads"] == 1
    assert {"mql", "precision", "recall", "auc"} <= set(backtest["draft"])
    preview = client.post(
        f"/api/v1/scoring-models/{draft['id']}/preview/",
        {"lead_id": scored_lead},
        content_type="application/json",
    )
    assert preview.json()["engagement"]["rules"]
    activated = client.post(f"/api/v1/scoring-models/{draft['id']}/activate/")
    assert activated.status_code == 202
    job = client.get(f"/api/v1/scoring/jobs/{activated.json()['id']}/").json()
    assert job["status"] == "queued" and job["total"] == 1
    assert ScoringModel.objects.get(status="active").pk == draft["id"]
    assert RescoreJob.objects.count() == 1


def test_bad_definition_is_a_400_naming_the_path(as_user, marketer):
    from django.test import Client

    client = Client()
    client.force_login(marketer)
    active = ScoringModel.objects.get(status="active")
    bad = {**active.definition, "mql_min_grade": "Z"}
    response = client.post(
        "/api/v1/scoring-models/", {"name": "Bad", "definition": bad}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "mql_min_grade" in str(response.json()["errors"])


def test_an_active_model_cannot_be_edited(marketer):
    from django.test import Client

    client = Client()
    client.force_login(marketer)
    active = ScoringModel.objects.get(status="active")
    response = client.patch(
        f"/api/v1/scoring-models/{active.pk}/", {"name": "x"}, content_type="application/json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/scoring-models/", "/api/v1/icps/"])
def test_sales_and_api_keys_may_not_manage_models(as_user, sdr, api, path):
    from django.test import Client

    client = Client()
    client.force_login(sdr)
    assert client.get(path).status_code == 403
    assert api.get(path).status_code == 403


def test_icp_is_validated(marketer):
    from django.test import Client

    client = Client()
    client.force_login(marketer)
    bad = {
        "name": "Bad",
        "criteria": [
            {"key": "x", "label": "x", "field": "shoe_size", "op": "in", "values": [1], "weight": 5}
        ],
    }
    assert client.post("/api/v1/icps/", bad, content_type="application/json").status_code == 400
    listed = client.get("/api/v1/icps/").json()
    assert listed[0]["name"] == "B2B SaaS mid-market"


def test_an_unknown_field_in_a_draft_edit_is_a_400_and_changes_nothing(marketer):
    """A typo ("mql_threshold" for a definition change) must not answer 200 and do nothing."""
    from django.test import Client

    client = Client()
    client.force_login(marketer)
    draft = client.post("/api/v1/scoring-models/", {"name": "Draft"}, content_type="application/json").json()
    response = client.patch(
        f"/api/v1/scoring-models/{draft['id']}/",
        {"name": "Renamed", "mql_threshold": 60},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"mql_threshold": ["Unknown field."]}
    assert ScoringModel.objects.get(pk=draft["id"]).name == "Draft"
    echoed = {**draft, "name": "Renamed"}  # read-only fields sent back are fine
    assert (
        client.put(
            f"/api/v1/scoring-models/{draft['id']}/", echoed, content_type="application/json"
        ).status_code
        == 200
    )
    icp = client.post("/api/v1/icps/", {"name": "X", "critera": []}, content_type="application/json")
    assert icp.status_code == 400
    assert icp.json()["errors"] == {"critera": ["Unknown field."]}
