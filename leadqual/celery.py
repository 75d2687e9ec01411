import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")

app = Celery("leadqual")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _require_secret_key(**_):
    from leadqual.secret import require_secret_key

    require_secret_key()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_database_connections(sender=None, **_):
    """Django's request rule for worker tasks: a connection older than CONN_MAX_AGE, or one that
    failed, is closed; the others are kept (and health-checked on their next use). Eager tasks
    run inside the caller's transaction and are left alone, as Celery's own fixup does."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
