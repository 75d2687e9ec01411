"""Webhooks against a real HTTP receiver on 127.0.0.1: signing, commit semantics, retries, API, admin."""

import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from django.db import transaction
from django.utils import timezone
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from handoff import tasks, webhooks
from handoff.webhook_models import WebhookDelivery, WebhookSubscription
from leadqual.celery import app
from tests.factories import LeadFactory
from tests.worker import running_worker, wait_until

FROZEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


# --- a real receiver -------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: Message
    body: bytes

    @property
    def envelope(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """Records every POST; answers with the queued status codes, then with `default_status`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque()
        self.default_status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, self.headers, body))
                    code = receiver.statuses.popleft() if receiver.statuses else receiver.default_status
                answer = f"status {code}".encode()
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "/redirected")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    def respond_with(self, *codes: int) -> None:
        self.statuses.extend(codes)


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(autouse=True)
def _allow_http_to_the_local_receiver(settings):
    settings.LEADQUAL_WEBHOOKS_ALLOW_HTTP = True


@pytest.fixture
def eager():
    """Run .delay() inline. The Celery app is configured once, so the settings fixture cannot do it."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def subscribe(db, receiver):
    def make(path="/hook", **kwargs):
        return webhooks.subscription_create(url=receiver.url + path, **kwargs)

    return make


@pytest.fixture
def client_for():
    def make(user):
        client = APIClient()
        client.force_login(user)
        return client

    return make


def _emit(event="lead.sql", lead_id=1, **data):
    return webhooks.emit(event=event, lead_id=lead_id, data=data)


# --- emitting inside the transaction -----------------------------------------------------------


@pytest.mark.django_db
def test_a_committed_change_posts_one_signed_envelope(
    receiver, subscribe, eager, django_capture_on_commit_callbacks
):
    _, secret = subscribe()
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            ids = _emit("lead.sql", lead.pk, from_stage="sal", to_stage="sql", owner="sam")
            assert receiver.requests == [], "nothing may leave before the commit"
    assert len(callbacks) == 1
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    delivery = WebhookDelivery.objects.get(pk=ids[0])

    assert webhooks.verify(secret, request.headers["Leadqual-Signature"], request.body)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", request.headers["Leadqual-Signature"])
    assert request.envelope == {
        "id": f"evt_{delivery.uuid.hex}",
        "type": "lead.sql",
        "created": request.envelope["created"],
        "data": {"lead_id": lead.pk, "from_stage": "sal", "to_stage": "sql", "owner": "sam"},
    }
    assert abs(request.envelope["created"] - time.time()) < 60
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "leadqual-webhooks/1"
    assert request.headers["Leadqual-Event"] == "lead.sql"
    assert request.headers["Leadqual-Delivery"] == str(delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    assert delivery.last_response_body == "status 200"


@pytest.mark.django_db
def test_a_rolled_back_change_sends_nothing(receiver, subscribe, eager, django_capture_on_commit_callbacks):
    subscribe()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            assert len(_emit("lead.mql")) == 1
            raise RuntimeError("the stage change failed")
    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert tasks.retry_due_webhooks_task() == 0
    assert receiver.requests == []


@pytest.mark.django_db
def test_each_subscription_receives_only_the_events_it_asked_for(
    receiver, subscribe, eager, django_capture_on_commit_callbacks
):
    secrets = {
        "/sql-only": subscribe("/sql-only", events=["lead.sql"])[1],
        "/everything": subscribe("/everything")[1],
        "/mql-and-sql": subscribe("/mql-and-sql", events=["lead.mql", "lead.sql"])[1],
    }
    subscribe("/inactive", is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert len(_emit("lead.mql")) == 2
        assert len(_emit("lead.sql")) == 3
        assert len(_emit("lead.recycled")) == 1
    got = sorted((r.path, r.envelope["type"]) for r in receiver.requests)
    assert got == [
        ("/everything", "lead.mql"),
        ("/everything", "lead.recycled"),
        ("/everything", "lead.sql"),
        ("/mql-and-sql", "lead.mql"),
        ("/mql-and-sql", "lead.sql"),
        ("/sql-only", "lead.sql"),
    ]
    # Each receiver's events are signed with its own secret, and only with it.
    for r in receiver.requests:
        assert webhooks.verify(secrets[r.path], r.headers["Leadqual-Signature"], r.body)
        others = [s for path, s in secrets.items() if path != r.path]
        assert not any(webhooks.verify(s, r.headers["Leadqual-Signature"], r.body) for s in others)


@pytest.mark.django_db
def test_an_event_nobody_wants_costs_one_query_and_schedules_nothing(
    subscribe, django_assert_num_queries, django_capture_on_commit_callbacks
):
    subscribe(events=["lead.sql"])
    with django_assert_num_queries(1), django_capture_on_commit_callbacks() as callbacks:
        assert _emit("lead.mql") == []
    assert callbacks == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_stage_transition_emits_its_event_and_a_refused_one_emits_nothing(
    receiver, subscribe, eager, marketer, sdr, django_capture_on_commit_callbacks
):
    from handoff import services

    _, secret = subscribe(events=["lead.handed_off", "lead.accepted"])
    lead = LeadFactory(stage="mql", score=70)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(services.TransitionRefused):
            services.lead_transition(lead_id=lead.pk, action="accept", actor=sdr, expected_stage="sal")
        services.lead_transition(
            lead_id=lead.pk, action="handoff", actor=marketer, expected_stage="mql", owner=sdr.username
        )
    [request] = receiver.requests
    assert request.envelope["type"] == "lead.handed_off"
    assert request.envelope["data"]["lead_id"] == lead.pk
    assert request.envelope["data"]["owner"] == sdr.username
    assert webhooks.verify(secret, request.headers["Leadqual-Signature"], request.body)


def test_emit_refuses_an_event_outside_the_vocabulary():
    with pytest.raises(ValueError, match="lead.won"):
        webhooks.emit(event="lead.won", lead_id=1, data={})


# --- delivering, retrying, giving up, replaying ---------------------------------------------------


@pytest.mark.django_db
def test_a_failed_delivery_is_retried_30_s_later_by_the_sweeper(
    receiver, subscribe, eager, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(FROZEN, tick=False)
    receiver.respond_with(500)
    _, secret = subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        [delivery_id] = _emit("lead.accepted")
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500"
    assert delivery.last_response_body == "status 500"
    assert delivery.next_attempt_at == FROZEN + timedelta(seconds=30)
    # The retry the task scheduled ran at once (eager mode ignores countdowns) and, not due, sent nothing.
    assert len(receiver.requests) == 1
    assert tasks.retry_due_webhooks_task() == 0

    time_machine.shift(31)
    assert tasks.retry_due_webhooks_task() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert delivery.last_error == ""
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.envelope["id"] == second.envelope["id"], "a retry keeps the event id receivers dedupe on"
    assert webhooks.verify(secret, second.headers["Leadqual-Signature"], second.body)
    assert second.headers["Leadqual-Signature"].startswith(
        f"t={int((FROZEN + timedelta(seconds=31)).timestamp())},"
    )


@pytest.mark.django_db
def test_a_delivery_gives_up_after_eight_attempts_with_doubling_delays(receiver, subscribe, time_machine):
    time_machine.move_to(FROZEN, tick=False)
    receiver.default_status = 503
    subscribe()
    [delivery_id] = _emit("lead.rejected")
    delays = []
    for attempt in range(1, 9):
        delivery = webhooks.deliver(delivery_id=delivery_id)
        assert delivery.attempted and delivery.attempts == attempt
        if delivery.status == "pending":
            delays.append((delivery.next_attempt_at - timezone.now()).total_seconds())
            time_machine.move_to(delivery.next_attempt_at)
    assert delays == [30, 60, 120, 240, 480, 960, 1920]
    assert (delivery.status, delivery.next_attempt_at, delivery.last_status_code) == ("failed", None, 503)
    assert len(receiver.requests) == 8

    time_machine.shift(timedelta(days=1))
    assert tasks.retry_due_webhooks_task() == 0
    assert webhooks.deliver(delivery_id=delivery_id).attempted is False
    assert len(receiver.requests) == 8


def test_backoff_is_capped_at_six_hours():
    assert webhooks.retry_delay(1) == timedelta(seconds=30)
    assert webhooks.retry_delay(3) == timedelta(minutes=2)
    assert webhooks.retry_delay(20) == timedelta(hours=6)


@pytest.mark.django_db
def test_delivering_twice_sends_once(receiver, subscribe):
    subscribe()
    [delivery_id] = _emit()
    assert webhooks.deliver(delivery_id=delivery_id).attempted is True
    again = webhooks.deliver(delivery_id=delivery_id)
    assert again.attempted is False
    assert (again.status, again.attempts) == ("succeeded", 1)
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_an_unreachable_receiver_is_a_recorded_failure(db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    webhooks.subscription_create(url=f"http://127.0.0.1:{closed_port}/hook")
    [delivery_id] = _emit()
    delivery = webhooks.deliver(delivery_id=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "ConnectionRefused" in delivery.last_error


@pytest.mark.django_db
def test_a_redirect_is_a_failure_and_is_not_followed(receiver, subscribe):
    receiver.respond_with(302)
    subscribe()
    [delivery_id] = _emit()
    delivery = webhooks.deliver(delivery_id=delivery_id)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert [r.path for r in receiver.requests] == ["/hook"]


@pytest.mark.django_db
def test_a_deactivated_subscription_parks_its_deliveries(receiver, subscribe):
    subscription, _ = subscribe()
    [delivery_id] = _emit()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    delivery = webhooks.deliver(delivery_id=delivery_id)
    assert (delivery.status, delivery.attempts) == ("failed", 0)
    assert "inactive" in delivery.last_error
    with pytest.raises(webhooks.ReplayRefused):
        webhooks.replay(delivery_id=delivery_id)
    assert receiver.requests == []


@pytest.mark.django_db
def test_replay_resends_a_delivery_whatever_its_status(
    receiver, subscribe, eager, django_capture_on_commit_callbacks
):
    _, secret = subscribe()
    [delivered, gave_up] = [_emit("lead.sql")[0], _emit("lead.disqualified")[0]]
    webhooks.deliver(delivery_id=delivered)
    WebhookDelivery.objects.filter(pk=gave_up).update(status="failed", attempts=8, next_attempt_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.replay(delivery_id=delivered).status == "pending"
        webhooks.replay(delivery_id=gave_up)
    assert [r.envelope["type"] for r in receiver.requests] == ["lead.sql", "lead.sql", "lead.disqualified"]
    assert receiver.requests[0].envelope == receiver.requests[1].envelope
    assert all(webhooks.verify(secret, r.headers["Leadqual-Signature"], r.body) for r in receiver.requests)
    rows = {d.pk: d for d in WebhookDelivery.objects.all()}
    assert (rows[delivered].status, rows[delivered].attempts) == ("succeeded", 2)
    assert (rows[gave_up].status, rows[gave_up].attempts) == ("succeeded", 9)


# --- signatures, for receivers --------------------------------------------------------------------


def test_the_signature_header_is_stripes_scheme():
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_a", b"1767225600." + body, hashlib.sha256).hexdigest()
    assert webhooks.sign("whsec_a", 1767225600, body) == expected
    assert webhooks.signature_header("whsec_a", 1767225600, body) == f"t=1767225600,v1={expected}"


def test_verify_rejects_a_wrong_secret_a_tampered_body_and_an_old_timestamp():
    body = b'{"id":"evt_1","type":"lead.sql"}'
    now = int(time.time())
    header = webhooks.signature_header("whsec_right", now, body)
    assert webhooks.verify("whsec_right", header, body)
    assert webhooks.verify("whsec_right", header, body.decode())
    assert not webhooks.verify("whsec_wrong", header, body)
    assert not webhooks.verify("whsec_right", header, body.replace(b"sql", b"mql"))
    assert not webhooks.verify("whsec_right", webhooks.signature_header("whsec_right", now - 301, body), body)
    assert webhooks.verify("whsec_right", webhooks.signature_header("whsec_right", now - 200, body), body)
    assert not webhooks.verify(
        "whsec_right", webhooks.signature_header("whsec_right", now - 200, body), body, tolerance=100
    )
    # The timestamp is signed: moving it forward breaks the signature.
    assert not webhooks.verify("whsec_right", header.replace(f"t={now}", f"t={now + 1}"), body)
    for malformed in ("", "garbage", f"t={now}", "v1=abc", f"t=soon,v1={'0' * 64}"):
        assert not webhooks.verify("whsec_right", malformed, body), malformed
    # While a secret rotates a header may carry several v1 signatures; one match is enough.
    rotated = f"t={now},v1={'0' * 64},v1={webhooks.sign('whsec_right', now, body)}"
    assert webhooks.verify("whsec_right", rotated, body)


# --- the API --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["marketer", "sdr", "api", "anon"])
def test_only_admins_may_touch_webhooks(request, who, client_for, subscribe):
    client = (
        request.getfixturevalue(who) if who in ("api", "anon") else client_for(request.getfixturevalue(who))
    )
    subscription, _ = subscribe()
    [delivery_id] = _emit()
    expected = 401 if who == "anon" else 403
    calls = [
        client.get("/api/v1/webhooks/"),
        client.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/x"}, format="json"),
        client.get(f"/api/v1/webhooks/{subscription.pk}/"),
        client.patch(f"/api/v1/webhooks/{subscription.pk}/", {"is_active": False}, format="json"),
        client.delete(f"/api/v1/webhooks/{subscription.pk}/"),
        client.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/"),
        client.post(f"/api/v1/webhook-deliveries/{delivery_id}/replay/"),
    ]
    assert [r.status_code for r in calls] == [expected] * len(calls)
    assert WebhookSubscription.objects.filter(is_active=True).count() == 1
    assert WebhookDelivery.objects.get().status == "pending"
    if who != "anon":
        assert "admin" in calls[0].json()["detail"]


@pytest.mark.django_db
def test_the_secret_is_shown_on_creation_only_and_signs_the_deliveries(client_for, admin_user, receiver):
    client = client_for(admin_user)
    created = client.post(
        "/api/v1/webhooks/",
        {"url": receiver.url + "/crm", "events": ["lead.sql", "lead.mql"], "description": "CRM sync"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["events"] == ["lead.sql", "lead.mql"]
    assert body["created_by"] == "ada"
    assert body["is_active"] is True

    listed = client.get("/api/v1/webhooks/")
    detail = client.get(f"/api/v1/webhooks/{body['id']}/")
    assert listed.status_code == detail.status_code == 200
    assert [s["id"] for s in listed.json()] == [body["id"]]
    for response in (listed, detail):
        assert "secret" not in response.content.decode()
        assert body["secret"] not in response.content.decode()

    [delivery_id] = _emit("lead.mql")
    webhooks.deliver(delivery_id=delivery_id)
    [request] = receiver.requests
    assert webhooks.verify(body["secret"], request.headers["Leadqual-Signature"], request.body)


@pytest.mark.django_db
def test_admin_edits_and_deletes_a_subscription(client_for, admin_user, subscribe):
    client = client_for(admin_user)
    subscription, _ = subscribe()
    _emit()
    url = f"/api/v1/webhooks/{subscription.pk}/"
    edited = client.patch(
        url, {"events": ["lead.sql", "lead.sql", "lead.mql"], "is_active": False}, format="json"
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["events"] == ["lead.sql", "lead.mql"]
    subscription.refresh_from_db()
    assert (subscription.events, subscription.is_active) == (["lead.sql", "lead.mql"], False)
    assert client.put(url, {"url": "https://hooks.example.com"}, format="json").status_code == 405
    assert client.delete(url).status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert client.get(url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "http://hooks.example.com/x"}, "url"),
        ({"url": "https://user:pw@hooks.example.com/x"}, "url"),
        ({"url": "https://hooks.example.com/x", "events": ["lead.sql", "lead.won"]}, "events"),
        ({"url": "https://hooks.example.com/x", "events": "lead.sql"}, "events"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, admin_user, body, field):
    response = client_for(admin_user).post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["detail"] == "Invalid input."
    assert list(data["errors"]) == [field]
    assert all(isinstance(message, str) and message for message in data["errors"][field])
    if "lead.won" in str(body):
        assert "lead.won" in data["errors"]["events"][0]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
def test_an_unknown_event_in_a_patch_is_a_400(client_for, admin_user, subscribe):
    subscription, _ = subscribe(events=["lead.sql"])
    response = client_for(admin_user).patch(
        f"/api/v1/webhooks/{subscription.pk}/", {"events": ["lead.mq"]}, format="json"
    )
    assert response.status_code == 400
    assert "lead.mq" in response.json()["errors"]["events"][0]
    subscription.refresh_from_db()
    assert subscription.events == ["lead.sql"]


@pytest.mark.django_db
def test_plain_http_to_localhost_needs_debug_or_the_setting(client_for, admin_user, settings):
    client = client_for(admin_user)
    settings.LEADQUAL_WEBHOOKS_ALLOW_HTTP = False
    settings.DEBUG = False
    refused = client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9000/hook"}, format="json")
    assert refused.status_code == 400
    assert "url" in refused.json()["errors"]
    settings.DEBUG = True
    for url in ("http://localhost:9000/hook", "https://hooks.example.com/"):
        assert client.post("/api/v1/webhooks/", {"url": url}, format="json").status_code == 201, url


@pytest.mark.django_db
def test_deliveries_are_listed_newest_first_in_keyset_pages(client_for, admin_user, subscribe, time_machine):
    client = client_for(admin_user)
    subscription, _ = subscribe()
    subscribe("/other")
    ids = []
    for minute, event in enumerate(["lead.mql", "lead.handed_off", "lead.accepted"]):
        time_machine.move_to(FROZEN + timedelta(minutes=minute), tick=False)
        ids.append(WebhookDelivery.objects.get(pk__in=_emit(event), subscription=subscription).pk)

    first = client.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/?limit=2")
    assert first.status_code == 200
    page = first.json()
    assert [d["id"] for d in page["results"]] == [ids[2], ids[1]]
    assert page["has_more"] is True
    assert page["results"][0]["event"] == "lead.accepted"
    assert page["results"][0]["event_id"] == page["results"][0]["payload"]["id"]
    rest = client.get(page["next"]).json()
    assert [d["id"] for d in rest["results"]] == [ids[0]]
    assert rest["has_more"] is False
    assert client.get("/api/v1/webhooks/999999/deliveries/").status_code == 404


@pytest.mark.django_db
def test_the_replay_endpoint_resends(
    client_for, admin_user, receiver, subscribe, eager, django_capture_on_commit_callbacks
):
    client = client_for(admin_user)
    subscription, _ = subscribe()
    [delivery_id] = _emit("lead.recycled")
    webhooks.deliver(delivery_id=delivery_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/webhook-deliveries/{delivery_id}/replay/")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert len(receiver.requests) == 2
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == 2

    assert client.post("/api/v1/webhook-deliveries/999999/replay/").status_code == 404
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    refused = client.post(f"/api/v1/webhook-deliveries/{delivery_id}/replay/")
    assert refused.status_code == 400
    assert "subscription" in refused.json()["errors"]


@pytest.mark.django_db
def test_the_openapi_schema_still_validates_and_lists_the_webhook_paths(api):
    schema = yaml.safe_load(api.get("/api/v1/schema/").content)
    validate(schema)
    for path in (
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{id}/",
        "/api/v1/webhooks/{id}/deliveries/",
        "/api/v1/webhook-deliveries/{id}/replay/",
    ):
        assert path in schema["paths"], path
    assert "put" not in schema["paths"]["/api/v1/webhooks/{id}/"]


# --- the admin site -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_the_secret_once_on_creation(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/handoff/webhooksubscription/add/",
        {
            "url": "https://hooks.example.com/crm",
            "events": ["lead.sql"],
            "description": "CRM",
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.events == ["lead.sql"]
    assert subscription.created_by == admin_user
    messages = [str(m) for m in response.context["messages"]]
    assert any(subscription.secret in m for m in messages), messages
    change_page = client.get(f"/admin/handoff/webhooksubscription/{subscription.pk}/change/")
    assert change_page.status_code == 200
    assert subscription.secret not in change_page.content.decode()


@pytest.mark.django_db
def test_the_admin_replays_selected_deliveries(
    client, admin_user, receiver, subscribe, eager, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    subscribe()
    ids = _emit("lead.sql") + _emit("lead.mql")
    WebhookDelivery.objects.update(status="failed", attempts=8, next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/handoff/webhookdelivery/",
            {"action": "replay_selected", "_selected_action": ids},
            follow=True,
        )
    assert response.status_code == 200
    assert sorted(r.envelope["type"] for r in receiver.requests) == ["lead.mql", "lead.sql"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


# --- the asynchronous path, end to end --------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_delivers_an_event_emitted_in_a_committed_transaction(receiver):
    _, secret = webhooks.subscription_create(url=receiver.url + "/worker", events=["lead.handed_off"])
    with running_worker():
        with transaction.atomic():
            [delivery_id] = webhooks.emit(event="lead.handed_off", lead_id=7, data={"owner": "sam"})
        assert wait_until(lambda: WebhookDelivery.objects.get(pk=delivery_id).status == "succeeded"), (
            "the worker never delivered the event"
        )
    [request] = receiver.requests
    assert request.path == "/worker"
    assert request.envelope["data"] == {"lead_id": 7, "owner": "sam"}
    assert webhooks.verify(secret, request.headers["Leadqual-Signature"], request.body)


@pytest.mark.django_db
def test_a_batch_of_events_costs_one_select_and_one_insert_whatever_its_size(
    subscribe, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """A rescore chunk promotes many leads at once: one subscription query and one INSERT for
    them all, each lead's envelope its own (its id, its data), one per subscription."""
    subscribe("/a")
    subscribe("/b", events=["lead.mql"])
    subscribe("/c", events=["lead.sql"])
    leads = [(lead_id, {"score": 50 + lead_id, "lead_id": 999}) for lead_id in range(1, 41)]
    with django_assert_num_queries(2), django_capture_on_commit_callbacks() as callbacks:
        ids = webhooks.emit_many(event="lead.mql", leads=leads)
    assert len(ids) == 80 and len(callbacks) == 1
    rows = list(WebhookDelivery.objects.filter(pk__in=ids).select_related("subscription"))
    got = sorted((d.subscription.url.rpartition("/")[2], d.payload["data"]["lead_id"]) for d in rows)
    assert got == sorted((path, lead_id) for path in ("a", "b") for lead_id in range(1, 41))
    assert all(d.payload["data"]["score"] == 50 + d.payload["data"]["lead_id"] for d in rows)
    assert len({d.payload["id"] for d in rows}) == 80
    with django_assert_num_queries(0):
        assert webhooks.emit_many(event="lead.mql", leads=[]) == []
