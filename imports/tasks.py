"""Celery tasks for imports: each takes a job id, loads the fresh row, calls a service.

Both are safe to run twice: the services act only on a job in the expected status, and the apply
marks the job done in the same transaction as its rows.
"""

from celery import shared_task


@shared_task(acks_late=True, time_limit=1800, soft_time_limit=1750)
def import_job_validate_task(job_id):
    from . import services

    services.import_job_validate(job_id=job_id)


# One transaction for up to 100,000 rows: a generous limit, then a clean rollback at the soft one.
@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def import_job_apply_task(job_id):
    from . import services

    report = services.import_job_apply(job_id=job_id)
    return None if report is None else {"job": job_id, "applied": report.applied, **report.counts}


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def prune_import_files_task():
    from . import services

    return services.import_files_prune()
