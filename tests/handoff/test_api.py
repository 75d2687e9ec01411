import pytest

from handoff.models import QualificationReview
from leads.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "budget": {"status": "confirmed", "amount": "25000"},
    "authority": {"status": "confirmed", "role": "decision_maker"},
    "need": {"status": "confirmed", "pain": "slow lead routing"},
    "timeline": {"status": "confirmed", "timeframe": "1_3_months"},
    "notes": "Great call",
    "outcome": "qualify",
    "expected_stage": "sal",
}


def session(client, user):
    client.force_login(user)
    return client


def transition(client, lead, **body):
    return client.post(f"/api/v1/leads/{lead.pk}/transitions/", body, content_type="application/json")


def test_full_handoff_through_the_api(client, marketer, sdr):
    lead = LeadFactory(stage="mql")
    response = transition(
        session(client, marketer), lead, action="handoff", expected_stage="mql", owner="sam"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["stage"], response.json()["owner"]) == ("mql", "sam")
    assert (
        transition(session(client, sdr), lead, action="accept", expected_stage="mql").json()["stage"] == "sal"
    )
    review = client.post(f"/api/v1/leads/{lead.pk}/qualifications/", GOOD, content_type="application/json")
    assert review.status_code == 201, review.content
    assert review.json()["stage"] == "sql"
    assert review.json()["policy_met"] is True
    listed = client.get(f"/api/v1/leads/{lead.pk}/qualifications/").json()
    assert listed[0]["need"] == {"status": "confirmed", "pain": "slow lead routing"}


def test_stale_expected_stage_is_a_409_with_a_message(client, marketer):
    lead = LeadFactory(stage="sal")
    response = transition(session(client, marketer), lead, action="handoff", expected_stage="mql", owner="x")
    assert response.status_code == 409
    assert "now SAL" in response.json()["detail"]


def test_forbidden_role_is_a_403_and_changes_nothing(client, sdr):
    lead = LeadFactory(stage="mql")
    response = transition(session(client, sdr), lead, action="handoff", expected_stage="mql", owner="sam")
    assert response.status_code == 403
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_missing_reason_is_a_400_naming_the_field(client, marketer):
    lead = LeadFactory(stage="mql")
    response = transition(session(client, marketer), lead, action="disqualify", expected_stage="mql")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_unknown_action_or_stage_is_a_400(client, marketer):
    lead = LeadFactory(stage="mql")
    response = transition(session(client, marketer), lead, action="teleport", expected_stage="heaven")
    assert response.status_code == 400
    assert {"action", "expected_stage"} <= set(response.json()["errors"])


def test_qualify_refused_by_policy_lists_what_is_missing(client, marketer, sdr):
    lead = LeadFactory(stage="sal", owner=sdr)
    weak = {**GOOD, "need": {"status": "unknown"}}
    response = session(client, sdr).post(
        f"/api/v1/leads/{lead.pk}/qualifications/", weak, content_type="application/json"
    )
    assert response.status_code == 400
    assert "Need is not confirmed" in response.json()["errors"]["bant"][0]
    assert not QualificationReview.objects.exists()


def test_api_keys_may_win_deals_but_not_accept(api, sdr):
    lead = LeadFactory(stage="mql", owner=sdr)
    assert transition(api, lead, action="accept", expected_stage="mql").status_code in (400, 403)
    Lead.objects.filter(pk=lead.pk).update(stage="sql")
    assert transition(api, lead, action="convert", expected_stage="sql").json()["stage"] == "opportunity"


def test_transition_on_a_missing_lead_is_a_404(client, marketer):
    response = session(client, marketer).post(
        "/api/v1/leads/999999/transitions/",
        {"action": "disqualify", "expected_stage": "mql", "reason": "spam"},
        content_type="application/json",
    )
    assert response.status_code == 404
