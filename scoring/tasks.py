"""Celery tasks for scoring: each takes ids, loads fresh rows, calls a service, is safe to rerun."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)

TASK_CHUNK = 500


def enqueue_rescoring(lead_ids) -> None:
    """Called after commit. A broker outage must not fail the write: the sweeper recovers."""
    ids = sorted(set(lead_ids))
    try:
        for start in range(0, len(ids), TASK_CHUNK):
            rescore_leads_task.delay(ids[start : start + TASK_CHUNK])
    except Exception:  # noqa: BLE001 - Redis down; the needs_rescore mark in PostgreSQL remains
        log.warning("could not enqueue rescoring of %d leads; the sweeper will", len(ids))


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def rescore_leads_task(lead_ids):
    from . import services
    from .predictive_services import predict_for_leads

    # The probability first: the scoring model may use it as an MQL criterion. Leads already
    # rescored by an earlier task of the same burst are no longer marked and are skipped: that
    # is how bursts coalesce.
    predict_for_leads(lead_ids)
    return services.leads_rescore(lead_ids=lead_ids)


@shared_task(acks_late=True, time_limit=600, soft_time_limit=570)
def sweep_marked_leads_task():
    from . import services

    return services.sweep_marked_leads()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def rescore_job_task(job_id):
    """Plan a full rescore and fan its chunks out to every worker."""
    from . import services

    chunk_ids = services.rescore_job_plan(job_id=job_id)
    for chunk_id in chunk_ids:
        rescore_chunk_task.delay(chunk_id)
    return {"job": job_id, "chunks": len(chunk_ids)}


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def rescore_chunk_task(chunk_id):
    from . import services

    return services.rescore_chunk_run(chunk_id=chunk_id)


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def vacuum_leads_task():
    """After a full rescore (queued when its job is done)."""
    from . import services

    services.vacuum_leads()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def apply_decay_task():
    from . import services

    return services.apply_decay()


# Predictive scoring. Weekly by beat (no arguments: trains a new version, or the one the broker
# lost), on demand from the page and the API (the id of the row they queued).
@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def train_predictive_model_task(model_id=None, force=False):
    from . import predictive_services

    if model_id is None:
        row = predictive_services.predictive_training_scheduled()
    else:
        row = predictive_services.predictive_model_train(model_id=model_id, force=force or None)
    return {"model": row.pk, "version": row.version, "status": row.status, "message": row.message}


@shared_task(acks_late=True, time_limit=600, soft_time_limit=570)
def predict_for_leads_task(lead_ids):
    from . import predictive_services

    return predictive_services.predict_for_leads(lead_ids)
