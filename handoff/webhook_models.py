"""Outgoing webhooks: who wants which lifecycle events, and every delivery we owe them.

A `WebhookDelivery` row is the outbox: it is written in the transaction that changes the lead, so an
event exists exactly when its change committed, and the sweeper can resend whatever the broker lost.
"""

import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone


class WebhookEvent(models.TextChoices):
    LEAD_MQL = "lead.mql", "Lead became an MQL"
    LEAD_HANDED_OFF = "lead.handed_off", "Lead handed off to an SDR"
    LEAD_ACCEPTED = "lead.accepted", "SDR accepted the lead"
    LEAD_REJECTED = "lead.rejected", "SDR rejected the lead"
    LEAD_SQL = "lead.sql", "Lead became an SQL"
    LEAD_RECYCLED = "lead.recycled", "Lead recycled to nurture"
    LEAD_DISQUALIFIED = "lead.disqualified", "Lead disqualified"


WEBHOOK_EVENT_NAMES: tuple[str, ...] = tuple(WebhookEvent.values)

# Hosts that may receive plain http when it is allowed: a receiver on the same machine, for local work.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def http_allowed() -> bool:
    return bool(settings.DEBUG or getattr(settings, "LEADQUAL_WEBHOOKS_ALLOW_HTTP", False))


def validate_webhook_url(value: str) -> None:
    """https anywhere; http only to this machine and only in DEBUG or with LEADQUAL_WEBHOOKS_ALLOW_HTTP.

    Lead data and the signature travel in the body, so a plain-http receiver elsewhere would leak
    both. There is no check of where an https host resolves to (private networks): admins are
    trusted to choose receivers, and a resolve-time check belongs with the request, not the form.
    """
    URLValidator(schemes=["http", "https"], message="Enter a valid http(s) URL.")(value)
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValidationError("Do not put credentials in the URL; verify the signature instead.")
    if parts.scheme == "https":
        return
    if parts.hostname not in LOCAL_HOSTS:
        raise ValidationError("Use https; plain http is only for a receiver on 127.0.0.1 or localhost.")
    if not http_allowed():
        raise ValidationError("Use https; http to localhost needs DEBUG or LEADQUAL_WEBHOOKS_ALLOW_HTTP.")


def validate_webhook_events(value) -> None:
    unknown = [name for name in value or [] if name not in WEBHOOK_EVENT_NAMES]
    if unknown:
        names = ", ".join(map(str, unknown))
        raise ValidationError(f"Unknown event(s): {names}. Choose from: {', '.join(WEBHOOK_EVENT_NAMES)}.")


class WebhookSubscription(models.Model):
    url = models.URLField(max_length=500, validators=[validate_webhook_url])
    # Empty means every event, so a new event type reaches catch-all receivers without an edit.
    events = ArrayField(
        models.CharField(max_length=40, choices=WebhookEvent.choices),
        blank=True,
        default=list,
        validators=[validate_webhook_events],
    )
    # Stored in plain text, unlike API keys (stored hashed): we must compute HMACs with it on every
    # delivery, so a hash is useless. The trade-off: anyone who can read this table (a DB dump, a
    # backup) can forge our signatures to the receivers until the secret is rotated. Encrypting it
    # with a key outside the database would narrow that; not done yet.
    secret = models.CharField(max_length=80, editable=False)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event: str) -> bool:
        return self.is_active and (not self.events or event in self.events)


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    # The event id receivers deduplicate on ("evt_<uuid>"); a retry or a replay keeps it.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When a pending delivery may be tried (again); while an attempt runs it holds a short lease.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
            models.Index(fields=["subscription", "-created_at", "-id"], name="webhookdelivery_sub_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"

    @property
    def event_id(self) -> str:
        return f"evt_{self.uuid.hex}"
