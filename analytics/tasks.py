"""Celery tasks that keep the analytics page's cached figures fresh (analytics/figures.py)."""

import datetime as dt

from celery import shared_task

# A 3-year range takes ~15 s of SQL at 1,000,000 leads; the limits leave room for a busy database.


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def refresh_figures_task(*, start: str, end: str, source: str = ""):
    """Recompute one filter set (a stale page asked for it); safe to run twice."""
    from . import figures
    from .selectors import Filters

    filters = Filters(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end), source=source)
    try:
        figures.refresh(filters)
    finally:
        figures.release_refresh_lock(filters)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def refresh_default_figures_task():
    """Beat: the page most people open (the last 90 days, any source) is always in the cache."""
    from . import figures
    from .forms import default_filters

    figures.refresh(default_filters())
    figures.sources()
