"""Celery tasks for handoff: each takes ids, loads fresh rows, calls a service, is safe to rerun."""

import math

from celery import shared_task
from django.utils import timezone


# 60 s bounds one attempt (10 s socket timeouts, a receiver that drips its answer); it stays under
# webhooks.ATTEMPT_LEASE so the sweeper never resends an attempt that is still running.
@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def deliver_webhook_task(delivery_id):
    from .webhook_models import WebhookDelivery
    from .webhooks import deliver

    try:
        delivery = deliver(delivery_id=delivery_id)
    except WebhookDelivery.DoesNotExist:
        return None  # its subscription was deleted
    # Only the call that made the attempt schedules the retry, so duplicate tasks die out instead
    # of each keeping its own chain alive. Countdowns stay far below the broker's visibility
    # timeout (1 h) with the current backoff; if a message is lost anyway, the sweeper resends.
    if delivery.attempted and delivery.status == WebhookDelivery.Status.PENDING and delivery.next_attempt_at:
        countdown = max(0, math.ceil((delivery.next_attempt_at - timezone.now()).total_seconds()))
        deliver_webhook_task.apply_async((delivery_id,), countdown=countdown)
    return delivery.status


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def retry_due_webhooks_task():
    from .webhooks import enqueue_due_deliveries

    return enqueue_due_deliveries()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def escalate_overdue_handoffs_task():
    from . import services

    return services.sla_escalate_overdue()
