"""Outgoing webhooks: lifecycle events POSTed to subscribers, signed the way Stripe signs them.

Every delivery is a row first (`emit`, inside the transaction of the change), then a task after
commit, then an HTTP POST (`deliver`). Failures back off exponentially; a beat sweeper resends what
the broker lost; an admin can `replay` any delivery. The same event can arrive more than once (a
retry whose answer got lost, a replay), so receivers deduplicate on the envelope's `id`.

The body is Stripe's event envelope::

    {"id": "evt_<32 hex>", "type": "lead.sql", "created": 1767225600,
     "data": {"lead_id": 42, "from_stage": "sal", "to_stage": "sql", ...}}

with the headers `Content-Type: application/json`, `User-Agent: leadqual-webhooks/1`,
`Leadqual-Event: lead.sql`, `Leadqual-Delivery: <delivery id>` and
`Leadqual-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>`.

A receiver checks the signature on the raw body, before parsing it (Django shown)::

    def leadqual_webhook(request):
        if not verify(WHSEC, request.headers.get("Leadqual-Signature", ""), request.body):
            return HttpResponse(status=400)   # forged, tampered, or older than 5 minutes
        event = json.loads(request.body)      # skip it if event["id"] was already handled
        return HttpResponse(status=204)       # any 2xx within 10 s; anything else is retried

`verify` is twenty lines of stdlib: copy it into the receiver rather than installing leadqual there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .webhook_models import (
    WEBHOOK_EVENT_NAMES,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
    validate_webhook_events,
    validate_webhook_url,
)

__all__ = [
    "WEBHOOK_EVENT_NAMES",
    "ReplayRefused",
    "WebhookEvent",
    "deliver",
    "emit",
    "enqueue_deliveries",
    "enqueue_due_deliveries",
    "replay",
    "retry_delay",
    "sign",
    "signature_header",
    "subscription_create",
    "validate_webhook_events",
    "validate_webhook_url",
    "verify",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Leadqual-Signature"
USER_AGENT = "leadqual-webhooks/1"
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 6 * 3600
# An attempt in flight keeps its delivery out of the sweeper's hands for this long. It must outlast
# the task's time limit (60 s), so only a worker that died mid-attempt lets the sweeper resend.
ATTEMPT_LEASE = timedelta(minutes=2)
RESPONSE_BODY_LIMIT = 2048
ERROR_LIMIT = 500


# --- signatures ------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>": a signed timestamp stops replays of a captured request."""
    message = f"{int(timestamp)}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={int(timestamp)},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes | str, tolerance: int = 300) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within `tolerance` seconds.

    Several `v1=` entries are accepted (any may match), as Stripe does while a secret is rotated.
    """
    if isinstance(body, str):
        body = body.encode()
    timestamp, candidates = None, []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --- subscriptions ---------------------------------------------------------------------------


def _normalized_events(events) -> list[str]:
    return list(dict.fromkeys(events or []))


def subscription_create(
    *,
    url: str,
    events=(),
    description: str = "",
    is_active: bool = True,
    created_by=None,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription with a fresh signing secret; return it with the secret, shown only now."""
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    subscription = WebhookSubscription(
        url=url,
        events=_normalized_events(events),
        description=description,
        is_active=is_active,
        created_by=created_by,
        secret=secret,
    )
    subscription.full_clean()
    subscription.save()
    return subscription, secret


# --- emitting --------------------------------------------------------------------------------


def emit(*, event: str, lead_id: int, data: dict | None = None) -> list[int]:
    """Record one delivery per active subscription that wants `event`; send them after commit.

    Call it inside the transaction that makes the change: the deliveries commit or roll back with
    it, so no receiver hears of a change that did not happen, and none misses one that did. With
    no matching subscription this is a single SELECT. Returns the new delivery ids.
    """
    return emit_many(event=event, leads=[(lead_id, data)])


def emit_many(*, event: str, leads: list[tuple[int, dict | None]]) -> list[int]:
    """`emit` for several leads at once (a rescore chunk's promotions): one SELECT of the
    subscriptions and one INSERT of the deliveries, whatever the number of leads."""
    if event not in WEBHOOK_EVENT_NAMES:
        raise ValueError(f"Unknown webhook event {event!r}.")
    if not leads:
        return []
    subscription_ids = list(
        WebhookSubscription.objects.filter(is_active=True)
        .filter(Q(events__len=0) | Q(events__contains=[event]))
        .values_list("id", flat=True)
    )
    if not subscription_ids:
        return []
    now = timezone.now()
    deliveries = []
    for lead_id, data in leads:
        body_data = {"lead_id": lead_id, **(data or {})}
        body_data["lead_id"] = lead_id  # the argument wins over a stray key in `data`
        for subscription_id in subscription_ids:
            delivery = WebhookDelivery(
                subscription_id=subscription_id,
                event=event,
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            delivery.payload = {
                "id": delivery.event_id,
                "type": event,
                "created": int(now.timestamp()),
                "data": body_data,
            }
            deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    ids = [d.pk for d in deliveries]
    transaction.on_commit(partial(enqueue_deliveries, ids))
    return ids


def enqueue_deliveries(delivery_ids) -> None:
    """Runs after commit. A broker outage must not fail the change: the rows wait for the sweeper."""
    from .tasks import deliver_webhook_task

    try:
        for delivery_id in delivery_ids:
            deliver_webhook_task.delay(delivery_id)
    except Exception:  # noqa: BLE001 - Redis down; the pending rows in PostgreSQL remain
        log.warning("could not enqueue %d webhook deliveries; the sweeper will", len(delivery_ids))


def enqueue_due_deliveries(*, limit: int = 1000) -> int:
    """Enqueue pending deliveries whose time has come (lost messages, worker crashes); return how many.

    An enqueue that races a task already on its way is harmless: `deliver` claims a delivery with a
    guarded update, so only one of them sends.
    """
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    enqueue_deliveries(due)
    return len(due)


# --- delivering ------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, capped at 6 h."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer, not a success: following it would POST lead data (or, as urllib
    # does for 302, a bodiless GET) to a host nobody subscribed, and could point inside our network.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    body: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _read_limited(response) -> str:
    try:
        return response.read(RESPONSE_BODY_LIMIT).decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - the status already answered; the body is only a courtesy
        return ""


def _post(url: str, body: bytes, headers: dict[str, str]) -> _Answer:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return _Answer(response.status, _read_limited(response), "")
    except urllib.error.HTTPError as exc:
        with exc:
            return _Answer(exc.code, _read_limited(exc), f"HTTP {exc.code}")
    except urllib.error.URLError as exc:
        return _Answer(None, "", f"{type(exc.reason).__name__}: {exc.reason}"[:ERROR_LIMIT])
    except Exception as exc:  # noqa: BLE001 - timeouts, resets, bad replies, the soft time limit
        # Anything that goes wrong talking to the receiver is a failed attempt to retry, never a
        # crashed task: the error is kept on the row for the admin to read.
        return _Answer(None, "", f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT])


def _is_due(delivery: WebhookDelivery, now: datetime) -> bool:
    return (
        delivery.status == WebhookDelivery.Status.PENDING
        and delivery.next_attempt_at is not None
        and delivery.next_attempt_at <= now
    )


def deliver(*, delivery_id: int) -> WebhookDelivery:
    """Make one attempt at a due pending delivery and record its outcome; otherwise do nothing.

    Safe to run twice or concurrently: the attempt is claimed with a guarded update that also
    moves `next_attempt_at` a lease ahead, so a succeeded, failed, not-yet-due or in-flight
    delivery is not sent again. The returned row carries `attempted` (not stored): whether this
    call made an attempt, so the caller schedules at most one retry per attempt.
    """
    started = timezone.now()
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    delivery.attempted = False
    if not _is_due(delivery, started):
        return delivery
    subscription = delivery.subscription
    Status = WebhookDelivery.Status
    if not subscription.is_active:
        # Parked, not lost: an admin who re-activates the subscription can replay it.
        WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(
            status=Status.FAILED, next_attempt_at=None, last_error="Not sent: the subscription is inactive."
        )
        delivery.refresh_from_db()
        delivery.attempted = False
        return delivery

    # Counted when claimed, not when answered: a receiver that hangs until the worker is killed
    # still uses up its attempts instead of being retried forever.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.PENDING, next_attempt_at=delivery.next_attempt_at
    ).update(next_attempt_at=started + ATTEMPT_LEASE, attempts=F("attempts") + 1, last_attempt_at=started)
    if not claimed:
        delivery.refresh_from_db()
        delivery.attempted = False
        return delivery
    attempts = delivery.attempts + 1

    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(subscription.secret, int(started.timestamp()), body),
        "Leadqual-Event": delivery.event,
        "Leadqual-Delivery": str(delivery.pk),
    }
    answer = _post(subscription.url, body, headers)

    finished = timezone.now()
    outcome = {
        "last_status_code": answer.status_code,
        "last_error": answer.error[:ERROR_LIMIT],
        "last_response_body": answer.body[:RESPONSE_BODY_LIMIT],
    }
    if answer.ok:
        outcome.update(status=Status.SUCCEEDED, next_attempt_at=None, delivered_at=finished)
    elif attempts >= MAX_ATTEMPTS:
        outcome.update(status=Status.FAILED, next_attempt_at=None)
    else:
        outcome.update(next_attempt_at=finished + retry_delay(attempts))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**outcome)
    if not answer.ok:
        log.info("webhook delivery %s attempt %d failed: %s", delivery.pk, attempts, answer.error)
    delivery.refresh_from_db()
    delivery.attempted = True
    return delivery


class ReplayRefused(ValueError):
    pass


@transaction.atomic
def replay(*, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, whatever its status, as a new attempt with the same event id.

    The attempt count carries on, so replaying a delivery that gave up is one more try, not a new
    series of eight. Refused while the subscription is inactive (it would only fail again).
    """
    delivery = WebhookDelivery.objects.select_for_update().select_related("subscription").get(pk=delivery_id)
    if not delivery.subscription.is_active:
        raise ReplayRefused("The subscription is inactive; activate it before replaying its deliveries.")
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    transaction.on_commit(partial(enqueue_deliveries, [delivery.pk]))
    return delivery
