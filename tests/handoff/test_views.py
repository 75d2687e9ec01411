import pytest
from django.utils import timezone

from handoff import services
from leads.models import Lead
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGES = ["/", "/queues/mql/", "/queues/sales/", "/scoring/", "/leads/{id}/", "/leads/{id}/qualify/"]
ALLOWED = {
    "marketing": {"/", "/queues/mql/", "/scoring/", "/leads/{id}/"},
    "sales": {"/", "/queues/sales/", "/leads/{id}/", "/leads/{id}/qualify/"},
    "admin": set(PAGES),
}


@pytest.mark.parametrize("role", ["marketing", "sales", "admin"])
def test_each_role_sees_exactly_its_pages(client, role):
    user = UserFactory(roles=[role])
    lead = LeadFactory(stage="sal", owner=user)
    client.force_login(user)
    for page in PAGES:
        status = client.get(page.format(id=lead.pk)).status_code
        assert status == (200 if page in ALLOWED[role] else 403), (role, page, status)


def test_user_without_a_role_gets_403_on_role_pages(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get("/queues/mql/").status_code == 403
    assert client.get("/queues/sales/").status_code == 403


def test_mql_queue_shows_unassigned_mqls_with_reasons_and_a_fixed_query_count(
    client, marketer, django_assert_max_num_queries
):
    explanation = {
        "mql_reason": "threshold",
        "fit": {"grade": "A"},
        "engagement": {"rules": [{"label": "Attended a webinar", "points": 10}]},
    }
    LeadFactory.create_batch(
        60, stage="mql", score=70, score_explanation=explanation, stage_changed_at=timezone.now()
    )
    LeadFactory(stage="mql", handed_off_at=timezone.now(), email="taken@x.io")
    client.force_login(marketer)
    with django_assert_max_num_queries(10):
        response = client.get("/queues/mql/")
    html = response.content.decode()
    assert "60 MQLs waiting" in html
    assert "Attended a webinar (+10)" in html
    assert "taken@x.io" not in html
    assert "Next →" in html


def test_queue_filters_by_grade_and_search(client, marketer):
    LeadFactory(stage="mql", fit_grade="A", first_name="Zora", email="zora@a.io")
    LeadFactory(stage="mql", fit_grade="C", first_name="Carl", email="carl@c.io")
    client.force_login(marketer)
    html = client.get("/queues/mql/?fit_grade=A").content.decode()
    assert "Zora" in html and "Carl" not in html
    html = client.get("/queues/mql/?q=carl").content.decode()
    assert "Carl" in html and "Zora" not in html


def test_bulk_handoff_from_the_queue_without_javascript(client, marketer, sdr):
    leads = LeadFactory.create_batch(3, stage="mql")
    client.force_login(marketer)
    response = client.post(
        "/queues/mql/bulk/",
        {"lead_ids": [lead.pk for lead in leads[:2]], "owner": "sam", "action": "handoff"},
    )
    assert response.status_code == 302
    assert set(Lead.objects.filter(owner=sdr).values_list("pk", flat=True)) == {leads[0].pk, leads[1].pk}


def test_bulk_handoff_with_htmx_rerenders_the_table(client, marketer, sdr):
    leads = LeadFactory.create_batch(2, stage="mql")
    client.force_login(marketer)
    response = client.post(
        "/queues/mql/bulk/",
        {"lead_ids": [leads[0].pk], "owner": "sam", "action": "handoff"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "Handed off 1 lead(s) to sam" in html
    assert "1 MQL waiting" in html
    assert "<html" not in html


def test_bulk_disqualify_needs_a_reason(client, marketer):
    lead = LeadFactory(stage="mql")
    client.force_login(marketer)
    client.post("/queues/mql/bulk/", {"lead_ids": [lead.pk], "action": "disqualify"})
    assert Lead.objects.get(pk=lead.pk).stage == "mql"
    client.post("/queues/mql/bulk/", {"lead_ids": [lead.pk], "action": "disqualify", "reason": "spam"})
    assert Lead.objects.get(pk=lead.pk).stage == "disqualified"


def test_inbox_lists_my_handoffs_with_sla_and_accepts_in_place(client, marketer, sdr):
    lead = LeadFactory(stage="mql")
    services.lead_transition(
        lead_id=lead.pk, action="handoff", actor=marketer, expected_stage="mql", owner="sam"
    )
    client.force_login(sdr)
    html = client.get("/queues/sales/").content.decode()
    assert f"Accept {lead.email}" in html
    assert "business h left" in html or "Overdue" in html
    response = client.post(
        f"/queues/sales/{lead.pk}/", {"action": "accept", "expected_stage": "mql"}, HTTP_HX_REQUEST="true"
    )
    assert "it is now your SAL" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == "sal"
    again = client.post(
        f"/queues/sales/{lead.pk}/", {"action": "accept", "expected_stage": "mql"}, HTTP_HX_REQUEST="true"
    )
    assert "was accepted by" in again.content.decode()


def test_reject_from_the_inbox_needs_a_reason(client, marketer, sdr):
    lead = LeadFactory(stage="mql")
    services.lead_transition(
        lead_id=lead.pk, action="handoff", actor=marketer, expected_stage="mql", owner="sam"
    )
    client.force_login(sdr)
    client.post(f"/queues/sales/{lead.pk}/", {"action": "reject", "expected_stage": "mql"})
    assert Lead.objects.get(pk=lead.pk).stage == "mql"
    client.post(
        f"/queues/sales/{lead.pk}/", {"action": "reject", "expected_stage": "mql", "reason": "no_interest"}
    )
    assert Lead.objects.get(pk=lead.pk).stage == "recycled"


def test_bant_screen_says_what_is_missing_then_qualifies(client, sdr):
    lead = LeadFactory(stage="sal", owner=sdr)
    client.force_login(sdr)
    form = {
        "expected_stage": "sal",
        "budget_status": "confirmed",
        "authority_status": "confirmed",
        "authority_role": "decision_maker",
        "need_status": "unknown",
        "timeline_status": "confirmed",
        "timeline_timeframe": "1_3_months",
        "outcome": "qualify",
        "reason": "",
    }
    check = client.post(f"/leads/{lead.pk}/qualify/check/", form).content.decode()
    assert "Need is not confirmed" in check
    refused = client.post(f"/leads/{lead.pk}/qualify/", form)
    assert refused.status_code == 200
    assert "Need is not confirmed" in refused.content.decode()
    form["need_status"] = "confirmed"
    assert client.post(f"/leads/{lead.pk}/qualify/", form).status_code == 302
    assert Lead.objects.get(pk=lead.pk).stage == "sql"
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "BANT reviews" in page and "Qualify" in page


def test_lead_page_offers_only_the_actions_the_viewer_may_take(client, marketer, sdr):
    lead = LeadFactory(stage="mql")
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert ">Hand off<" in html and ">Accept<" not in html
    services.lead_transition(
        lead_id=lead.pk, action="handoff", actor=marketer, expected_stage="mql", owner="sam"
    )
    client.force_login(sdr)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert ">Accept<" in html and ">Hand off<" not in html
    client.post(f"/leads/{lead.pk}/actions/", {"action": "accept", "expected_stage": "mql"})
    assert Lead.objects.get(pk=lead.pk).stage == "sal"
