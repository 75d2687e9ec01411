"""Bad input: a 400 (or 413) with a message per field, nothing stored, never a 500."""

import json

import pytest

from leads.models import Interaction, Lead

pytestmark = pytest.mark.django_db

NOW = "2026-11-30T10:00:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": ""}, "email"),
        ({"email": "nope"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "a@b.io", "first_name": "x" * 101}, "first_name"),
        ({"email": "a@b.io", "first_name": "bad\x00byte"}, "first_name"),
        ({"email": "a@b.io", "country": "USA"}, "country"),
        ({"email": "a@b.io", "company": {"employee_count": "many"}}, "company"),
        ({"email": "a@b.io", "company": {"employee_count": -5}}, "company"),
        ({"email": "a@b.io", "company": {"domain": "not a domain"}}, "company"),
        ({"email": "a@b.io", "company": "Acme"}, "company"),
        ({"email": "a@b.io", "attributes": ["a", "list"]}, "attributes"),
        ({"email": "a@b.io", "attributes": {"k": "nul\x00"}}, "attributes"),
        ({"email": "a@b.io", "attributes": {"k": "x" * 20000}}, "attributes"),
        ({"email": "a@b.io", "consent": {"email_marketing": "maybe"}}, "consent"),
        ({"email": "a@b.io", "favourite_colour": "blue"}, "favourite_colour"),
        ({"email": "x" * 250 + "@b.io"}, "email"),
    ],
)
def test_bad_lead_is_a_400_naming_the_field_and_stores_nothing(api, body, field):
    response = api.post("/api/v1/leads/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert Lead.objects.count() == 0


def test_malformed_json_is_a_400(api):
    response = api.generic("POST", "/api/v1/leads/", '{"email": "a@b.io",', content_type="application/json")
    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_json_that_is_not_an_object_is_a_400(api):
    response = api.generic("POST", "/api/v1/leads/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert Lead.objects.count() == 0


def test_wrong_content_type_is_a_415_in_json(api):
    response = api.generic("POST", "/api/v1/leads/", "email=a@b.io", content_type="text/plain")
    assert response.status_code == 415
    assert "detail" in response.json()


def test_oversized_body_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"leads": [{"email": f"l{i}@x.io", "first_name": "y" * 90} for i in range(200)]})
    response = api.generic("POST", "/api/v1/leads/batch/", body, content_type="application/json")
    assert response.status_code == 413
    assert Lead.objects.count() == 0


def test_batch_that_is_not_a_list_is_a_400(api):
    response = api.post("/api/v1/leads/batch/", {"leads": "a@b.io"}, format="json")
    assert response.status_code == 400
    assert "leads" in response.json()["errors"]


def test_batch_item_that_is_not_an_object_is_an_item_error(api):
    response = api.post("/api/v1/leads/batch/", {"leads": [{"email": "a@b.io"}, "b@b.io"]}, format="json")
    # DictField refuses a non-object child: the batch shape itself is wrong.
    assert response.status_code == 400
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "page_view", "occurred_at": NOW}, "email"),
        ({"email": "a@b.io", "lead_id": 1, "type": "page_view", "occurred_at": NOW}, "email"),
        ({"email": "a@b.io", "type": "teleport", "occurred_at": NOW}, "type"),
        ({"email": "a@b.io", "type": "page_view"}, "occurred_at"),
        ({"email": "a@b.io", "type": "page_view", "occurred_at": "yesterday"}, "occurred_at"),
        (
            {"email": "a@b.io", "type": "page_view", "occurred_at": "9999-01-01T00:00:00Z"},
            "occurred_at",
        ),
        (
            {"email": "a@b.io", "type": "page_view", "occurred_at": "1970-01-01T00:00:00Z"},
            "occurred_at",
        ),
        (
            {
                "email": "a@b.io",
                "type": "page_view",
                "occurred_at": NOW,
                "properties": {"duration_seconds": -3},
            },
            "properties",
        ),
        (
            {"email": "a@b.io", "type": "page_view", "occurred_at": NOW, "properties": {"url": 5}},
            "properties",
        ),
        (
            {"email": "a@b.io", "type": "page_view", "occurred_at": NOW, "external_id": "x" * 201},
            "external_id",
        ),
        ({"lead_id": 987654, "type": "page_view", "occurred_at": NOW}, "lead_id"),
        ({"lead_id": "abc", "type": "page_view", "occurred_at": NOW}, "lead_id"),
    ],
)
def test_bad_interaction_is_a_400_naming_the_field_and_stores_nothing(api, body, field):
    response = api.post("/api/v1/interactions/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert Interaction.objects.count() == 0
    assert Lead.objects.count() == 0


def test_interaction_batch_over_1000_is_refused(api):
    items = [{"email": "a@b.io", "type": "page_view", "occurred_at": NOW}] * 1001
    response = api.post("/api/v1/interactions/", {"interactions": items}, format="json")
    assert response.status_code == 400
    assert Interaction.objects.count() == 0
