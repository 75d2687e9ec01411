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
