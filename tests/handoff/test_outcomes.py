import pytest

from handoff.models import StageChange
from leads.models import Lead, Outcome
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
WHEN = "2026-11-20T10:00:00Z"


def post(api, body):
    return api.post("/api/v1/outcomes/", body, format="json")


def test_won_moves_an_sql_through_opportunity_to_customer_with_audit_rows(api):
    lead = LeadFactory(stage="sql")
    response = post(api, {"lead_id": lead.pk, "result": "won", "occurred_at": WHEN, "amount": "12000.00"})
    assert response.status_code == 201, response.content
    assert response.data["applied"] == ["convert", "win"]
    assert Lead.objects.get(pk=lead.pk).stage == "customer"
    assert list(StageChange.objects.filter(lead=lead).values_list("action", flat=True).order_by("id")) == [
        "convert",
        "win",
    ]
    assert Outcome.objects.get().amount == 12000


def test_lost_disqualifies_an_opportunity(api):
    lead = LeadFactory(stage="opportunity")
    post(api, {"lead_id": lead.pk, "result": "lost", "occurred_at": WHEN})
    assert Lead.objects.get(pk=lead.pk).stage == "disqualified"


def test_historical_outcome_for_a_lead_that_never_was_handed_off_is_stored_without_a_stage_change(api):
    lead = LeadFactory(stage="lead")
    response = post(api, {"lead_id": lead.pk, "result": "won", "occurred_at": "2019-05-01T00:00:00Z"})
    assert response.status_code == 201
    assert response.data["applied"] == []
    assert Lead.objects.get(pk=lead.pk).stage == "lead"
    assert Outcome.objects.filter(lead=lead, result="won").exists()


def test_outcome_by_email_creates_an_unknown_lead(api):
    response = post(api, {"email": "Old@Customer.io", "result": "converted", "occurred_at": WHEN})
    assert response.status_code == 201
    assert Lead.objects.filter(email="old@customer.io").exists()


def test_duplicate_external_id_is_stored_once(api):
    lead = LeadFactory(stage="sql")
    body = {"lead_id": lead.pk, "result": "won", "occurred_at": WHEN, "external_id": "deal-9"}
    assert post(api, body).status_code == 201
    again = post(api, body)
    assert (again.status_code, again.data["status"]) == (200, "duplicate")
    assert Outcome.objects.count() == 1


def test_batch_reports_each_item(api):
    lead = LeadFactory(stage="sql")
    body = {
        "outcomes": [
            {"lead_id": lead.pk, "result": "converted", "occurred_at": WHEN},
            {"email": "x@y.io", "result": "maybe", "occurred_at": WHEN},
            {"lead_id": 987654, "result": "won", "occurred_at": WHEN},
            {"email": "z@y.io", "result": "not_converted", "occurred_at": WHEN},
        ]
    }
    response = post(api, body)
    assert [r["status"] for r in response.data["results"]] == ["created", "error", "error", "created"]
    assert "result" in response.data["results"][1]["errors"]
    assert Outcome.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"result": "won", "occurred_at": WHEN}, "email"),
        ({"email": "a@b.io", "result": "won"}, "occurred_at"),
        ({"email": "a@b.io", "result": "won", "occurred_at": WHEN, "amount": "-5"}, "amount"),
        ({"email": "a@b.io", "result": "won", "occurred_at": "3000-01-01T00:00:00Z"}, "occurred_at"),
    ],
)
def test_bad_outcomes_are_400s_and_store_nothing(api, body, field):
    response = post(api, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Outcome.objects.count() == 0
