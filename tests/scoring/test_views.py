import pytest
from django.utils import timezone

from leads import services as lead_services
from scoring import tasks
from scoring.models import ScoringModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_id():
    lead_id = lead_services.lead_upsert(
        data={
            "email": "cto@acme-soft.io",
            "first_name": "Cy",
            "job_title": "CTO",
            "country": "US",
            "company": {"name": "Acme Soft", "industry": "software", "employee_count": 300},
        }
    ).lead_id
    lead_services.interactions_record(
        items=[
            {
                "lead_id": lead_id,
                "type": "demo_request",
                "occurred_at": timezone.now(),
                "properties": {"url": "/demo"},
            }
        ]
    )
    tasks.rescore_leads_task(lead_ids=[lead_id])
    return lead_id


def test_lead_page_explains_the_score_in_words(client, sdr, lead_id):
    client.force_login(sdr)
    response = client.get(f"/leads/{lead_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Asked for a demo" in html
    assert "hand-raiser fast lane" in html or "cross the model" in html
    assert "Lead → MQL" in html
    assert "Score history" in html


def test_lead_page_runs_a_fixed_number_of_queries(client, sdr, lead_id, django_assert_max_num_queries):
    client.force_login(sdr)
    for _ in range(30):
        lead_services.interactions_record(
            items=[{"lead_id": lead_id, "type": "page_view", "occurred_at": timezone.now()}]
        )
    with django_assert_max_num_queries(12):
        assert client.get(f"/leads/{lead_id}/").status_code == 200


def test_scoring_page_is_for_marketing_only(client, sdr, marketer):
    client.force_login(sdr)
    assert client.get("/scoring/").status_code == 403
    client.force_login(marketer)
    response = client.get("/scoring/")
    assert response.status_code == 200
    assert "Decision maker" in response.content.decode()


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get("/scoring/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_marketer_edits_a_draft_and_gets_errors_in_words(client, marketer):
    client.force_login(marketer)
    active = ScoringModel.objects.get(status="active")
    response = client.post("/scoring/drafts/", {"from_model": active.pk, "name": "Try"})
    draft = ScoringModel.objects.get(status="draft")
    assert response["Location"] == f"/scoring/models/{draft.pk}/"
    page = client.get(f"/scoring/models/{draft.pk}/")
    form = page.context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({f.name: f.value() for f in form.rule_fields()})
    data.update({f.name: f.value() for f in form.criterion_fields()})
    data["mql_engagement_threshold"] = 20
    assert client.post(f"/scoring/models/{draft.pk}/", data).status_code == 302
    draft.refresh_from_db()
    assert draft.definition["mql_engagement_threshold"] == 20
    data["definition"] = data["definition"].replace('"per": "event"', '"per": "sometimes"', 1)
    response = client.post(f"/scoring/models/{draft.pk}/", data)
    assert response.status_code == 200
    assert "per: must be one of" in response.content.decode()


def test_backtest_and_preview_render_on_the_draft_page(client, marketer, lead_id):
    client.force_login(marketer)
    active = ScoringModel.objects.get(status="active")
    client.post("/scoring/drafts/", {"from_model": active.pk, "name": "Try"})
    draft = ScoringModel.objects.get(status="draft")
    html = client.get(f"/scoring/models/{draft.pk}/?backtest=1&lead={lead_id}").content.decode()
    assert "Would be MQL" in html
    assert "cto@acme-soft.io under v2" in html


@pytest.mark.parametrize("model", ["scoringmodel", "scorechange", "rescorejob"])
def test_scoring_admin_lists_answer(client, admin_user, lead_id, model):
    from django.urls import reverse

    client.force_login(admin_user)
    assert client.get(reverse(f"admin:scoring_{model}_changelist")).status_code == 200


@pytest.mark.parametrize("model", ["lead", "company", "interaction", "idealcustomerprofile", "apikey"])
def test_leads_admin_lists_answer(client, admin_user, lead_id, model):
    from django.urls import reverse

    client.force_login(admin_user)
    assert client.get(reverse(f"admin:leads_{model}_changelist")).status_code == 200


def test_keys_read_as_words_on_the_pages():
    from django.template import engines

    template = engines["django"].from_string('{{ types|join:", "|words }} · {{ "no_budget"|words|capfirst }}')
    assert template.render({"types": ["demo_request", "contact_request"]}) == (
        "demo request, contact request · No budget"
    )
