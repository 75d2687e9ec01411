"""Celery tasks for scoring. Each takes ids, loads fresh rows and calls a service."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


def enqueue_rescoring(lead_ids):
    """Called after commit. A broker outage must not fail the write: the sweeper recovers."""
    try:
        rescore_leads_task.delay(list(lead_ids))
    except Exception:  # noqa: BLE001 - Redis down; the needs_rescore mark in PostgreSQL remains
        log.warning("could not enqueue rescoring of %d leads; the sweeper will", len(lead_ids))


@shared_task(acks_late=True)
def rescore_leads_task(lead_ids):
    from . import services

    return services.leads_rescore(lead_ids=lead_ids)
