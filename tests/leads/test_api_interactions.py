import pytest

from leads.models import Interaction, Lead

pytestmark = pytest.mark.django_db
NOW = "2026-11-30T10:00:00Z"


def test_single_interaction_by_email_creates_the_lead(api):
    response = api.post(
        "/api/v1/interactions/",
        {
            "email": "New@x.io",
            "type": "page_view",
            "occurred_at": NOW,
            "properties": {"url": "/pricing", "duration_seconds": 42},
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.data["lead_created"] is True
    interaction = Interaction.objects.get()
    assert interaction.lead.email == "new@x.io"
    assert interaction.properties == {"url": "/pricing", "duration_seconds": 42}
    assert interaction.source == "test-integration"


def test_duplicate_external_id_is_ignored_and_reported(api):
    body = {"email": "a@x.io", "type": "email_click", "occurred_at": NOW, "external_id": "e-1"}
    first = api.post("/api/v1/interactions/", body, format="json")
    again = api.post("/api/v1/interactions/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data["status"] == "duplicate"
    assert again.data["id"] == first.data["id"]
    assert Interaction.objects.count() == 1


def test_same_external_id_from_another_source_is_another_event(api):
    api.post(
        "/api/v1/interactions/",
        {"email": "a@x.io", "type": "email_click", "occurred_at": NOW, "external_id": "e-1"},
        format="json",
    )
    api.post(
        "/api/v1/interactions/",
        {
            "email": "a@x.io",
            "type": "email_click",
            "occurred_at": NOW,
            "external_id": "e-1",
            "source": "other-tool",
        },
        format="json",
    )
    assert Interaction.objects.count() == 2


def test_batch_mixes_created_duplicate_and_error_per_item(api):
    lead = api.post("/api/v1/leads/", {"email": "known@x.io"}, format="json").data
    items = [
        {
            "lead_id": lead["id"],
            "type": "webinar_attendance",
            "occurred_at": NOW,
            "external_id": "w1",
        },
        {"email": "fresh@x.io", "type": "demo_request", "occurred_at": NOW},
        {
            "lead_id": lead["id"],
            "type": "webinar_attendance",
            "occurred_at": NOW,
            "external_id": "w1",
        },
        {"email": "fresh@x.io", "type": "bogus", "occurred_at": NOW},
        {"lead_id": 424242, "type": "page_view", "occurred_at": NOW},
    ]
    response = api.post("/api/v1/interactions/", {"interactions": items}, format="json")
    assert response.status_code == 200
    assert [r["status"] for r in response.data["results"]] == [
        "created",
        "created",
        "duplicate",
        "error",
        "error",
    ]
    assert Interaction.objects.count() == 2
    assert Lead.objects.filter(email="fresh@x.io").exists()


def test_lead_interactions_are_listed_newest_first(api):
    lead = api.post("/api/v1/leads/", {"email": "a@x.io"}, format="json").data
    for day in (1, 3, 2):
        api.post(
            "/api/v1/interactions/",
            {
                "lead_id": lead["id"],
                "type": "page_view",
                "occurred_at": f"2026-11-0{day}T10:00:00Z",
            },
            format="json",
        )
    listed = api.get(f"/api/v1/leads/{lead['id']}/interactions/").data["results"]
    assert [i["occurred_at"][:10] for i in listed] == ["2026-11-03", "2026-11-02", "2026-11-01"]


def test_new_interactions_mark_the_lead_for_rescoring(api):
    lead = api.post("/api/v1/leads/", {"email": "a@x.io"}, format="json").data
    Lead.objects.update(needs_rescore=False)
    api.post(
        "/api/v1/interactions/",
        {"lead_id": lead["id"], "type": "page_view", "occurred_at": NOW},
        format="json",
    )
    assert Lead.objects.get().needs_rescore is True
