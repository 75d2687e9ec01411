import pytest
from rest_framework.test import APIClient

from leads.models import ApiKey, IdempotencyRecord, Lead
from leads.services import api_key_revoke, hash_api_key

pytestmark = pytest.mark.django_db


def test_no_key_is_a_401_with_a_bearer_challenge(anon):
    response = anon.get("/api/v1/leads/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_a_401(anon):
    anon.credentials(HTTP_AUTHORIZATION="Bearer lq_nope_nope")
    assert anon.get("/api/v1/leads/").status_code == 401


def test_revoked_key_is_a_401(api, api_key):
    assert api.get("/api/v1/leads/").status_code == 200
    api_key_revoke(key=api_key)
    response = api.get("/api/v1/leads/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_key_is_stored_hashed_only(api_key):
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.hashed_key == hash_api_key(api_key.secret)
    assert api_key.secret not in {stored.hashed_key, stored.prefix, stored.name}


def test_create_api_key_command_prints_the_key_last(capsys):
    from django.core.management import call_command

    call_command("create_api_key", "forms")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/leads/").status_code == 200


def test_throttled_key_gets_429_with_retry_after(api, settings):
    settings.LEADQUAL_API_RATE = "3/min"
    codes = [api.get("/api/v1/leads/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.get("/api/v1/leads/")
    assert int(response["Retry-After"]) > 0


def test_user_without_a_role_is_forbidden(as_user, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x")
    response = as_user(user).get("/api/v1/leads/")
    assert response.status_code == 403


def test_session_user_needs_csrf_to_post(as_user, marketer):
    client = as_user(marketer)
    assert client.post("/api/v1/leads/", {"email": "a@x.io"}, format="json").status_code == 403
    assert client.get("/api/v1/leads/").status_code == 200


def test_idempotency_key_replays_the_first_response(api):
    body = {"email": "a@x.io", "first_name": "A"}
    first = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # A fresh upsert without the key is an update: the replay really was a replay.
    assert api.post("/api/v1/leads/", body, format="json").status_code == 200


def test_idempotency_key_with_another_body_is_a_422(api):
    api.post("/api/v1/leads/", {"email": "a@x.io"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = api.post("/api/v1/leads/", {"email": "b@x.io"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert not Lead.objects.filter(email="b@x.io").exists()


def test_idempotency_keys_are_per_caller(api, as_user, marketer):
    api.post("/api/v1/leads/", {"email": "a@x.io"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    other = APIClient()
    other.force_login(marketer)
    response = other.post("/api/v1/leads/", {"email": "b@x.io"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201


def test_expired_idempotency_key_runs_again(api, time_machine):
    time_machine.move_to("2026-11-01T10:00:00Z", tick=False)
    api.post("/api/v1/leads/", {"email": "a@x.io"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    time_machine.move_to("2026-11-02T10:00:01Z", tick=False)
    response = api.post("/api/v1/leads/", {"email": "a@x.io"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response


def test_idempotency_stores_validation_errors_too(api):
    first = api.post("/api/v1/leads/", {"email": "bad"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    again = api.post("/api/v1/leads/", {"email": "bad"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == again.status_code == 400
    assert IdempotencyRecord.objects.get(key="k-3").response_status == 400
