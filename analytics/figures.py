"""The analytics page's figures, served from the cache a few minutes fresh, as a CRM report is.

Every figure is still computed by the live SQL in selectors.py, all of them in one snapshot
(`compute`); what changes is when. The result is kept in the Django cache (Redis) per filter set
and served stale-while-revalidate:

- fresh (younger than FRESH_FOR): served as is;
- stale (older, but kept for at most KEEP_FOR): served as is, and one Celery task per filter set
  recomputes it in the background (a short cache lock keeps a busy page from queueing many);
- missing (a range nobody looked at in the last hour, or the cache was flushed): the same task
  computes it and the page says so and reloads itself until the figures are there. That costs
  what the SQL costs (seconds at 1,000,000 leads, ~12 s for three years), but on a Celery worker:
  a web worker (gunicorn runs few, synchronous ones) is never held for seconds by one report.

Beat recomputes the default page (the last 90 days, any source) every few minutes, so the page
most people open is always a cache hit. The page says "as of HH:MM" and has a Refresh button that
recomputes in the request. Because the cache holds the output of the very same queries, the
numbers are those of the live SQL at `computed_at`, never an approximation; the cost is that new
stage changes and outcomes appear within FRESH_FOR (plus the refresh's own run time).

If Redis (cache and broker) is unreachable the page computes live in the request, as it did
before there was a cache; with eager Celery (tests) the task has run by the time the page looks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from . import selectors
from .selectors import Filters

logger = logging.getLogger(__name__)

FRESH_FOR = dt.timedelta(minutes=5)
KEEP_FOR = 60 * 60  # seconds a computed page may be served at all (stale after FRESH_FOR)
REFRESH_LOCK_S = 2 * 60  # one background refresh per filter set at a time (expires if lost)
SOURCES_FOR = 5 * 60
VERSION = 1  # bump when PageFigures (or a dataclass in it) changes shape: old pickles are ignored


@dataclass(frozen=True)
class PageFigures:
    """Everything the page shows for one filter set, as of `computed_at`."""

    filters: Filters
    computed_at: dt.datetime
    cohort: selectors.CohortFigures
    stage_time: list[selectors.StageTimeRow]
    sla: list[selectors.SlaRow]
    rejections: selectors.ReasonsOverTime
    disqualifications: selectors.ReasonsOverTime
    calibration: list[selectors.BandRow]


@dataclass(frozen=True)
class Served:
    figures: PageFigures
    # "fresh" or "stale" (from the cache; stale = a refresh is on its way), "live" (computed now)
    state: str


def compute(filters: Filters) -> PageFigures:
    """All figures of the page from the live SQL, in one snapshot."""
    with selectors.reading():
        computed_at = timezone.now()
        return PageFigures(
            filters=filters,
            computed_at=computed_at,
            cohort=selectors.cohort_figures(filters=filters),
            stage_time=selectors.stage_time(filters=filters),
            sla=selectors.sla(filters=filters),
            rejections=selectors.reasons(filters=filters, kind="rejections"),
            disqualifications=selectors.reasons(filters=filters, kind="disqualifications"),
            calibration=selectors.calibration(filters=filters),
        )


def cache_key(filters: Filters) -> str:
    # The source is free text in the database: hashed so any value makes a clean key.
    source = hashlib.sha1(filters.source.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"analytics:figures:v{VERSION}:{filters.start.isoformat()}:{filters.end.isoformat()}:{source}"


def _get(key: str):
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("analytics cache unavailable; computing live", exc_info=True)
        return None


def _set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("analytics cache unavailable; not storing", exc_info=True)


def refresh(filters: Filters) -> PageFigures:
    """Recompute one filter set's figures and store them (the Refresh button, beat, the task)."""
    figures = compute(filters)
    key = cache_key(filters)
    current = _get(key)
    # A slower computation that started earlier must not replace a newer one.
    if not isinstance(current, PageFigures) or current.computed_at <= figures.computed_at:
        _set(key, figures, KEEP_FOR)
    return figures


def _schedule_refresh(filters: Filters) -> bool:
    """Queue one refresh of these filters unless one is on its way; False if nothing could be queued."""
    from .tasks import refresh_figures_task

    lock = f"{cache_key(filters)}:refreshing"
    try:
        if cache.add(lock, 1, REFRESH_LOCK_S):
            # Not on_commit: the task only reads, there is nothing of this request to wait for.
            refresh_figures_task.delay(
                start=filters.start.isoformat(), end=filters.end.isoformat(), source=filters.source
            )
        return True
    except Exception:  # noqa: BLE001 - broker or cache down: the caller serves what it can
        logger.warning("could not schedule an analytics refresh", exc_info=True)
        release_refresh_lock(filters)
        return False


def release_refresh_lock(filters: Filters) -> None:
    try:
        cache.delete(f"{cache_key(filters)}:refreshing")
    except Exception:  # noqa: BLE001
        pass


def _cached(filters: Filters) -> PageFigures | None:
    found = _get(cache_key(filters))
    return found if isinstance(found, PageFigures) and found.filters == filters else None


def page_figures(filters: Filters) -> Served | None:
    """The figures for the page: from the cache, recomputed in the background when stale.

    None when there are none yet and a worker is computing them (the page shows that it is).
    """
    cached = _cached(filters)
    if cached is None:
        if not _schedule_refresh(filters):
            return Served(figures=refresh(filters), state="live")
        cached = _cached(filters)  # an eager task has already run
        return None if cached is None else Served(figures=cached, state="live")
    if timezone.now() - cached.computed_at >= FRESH_FOR:
        _schedule_refresh(filters)
        return Served(figures=cached, state="stale")
    return Served(figures=cached, state="fresh")


def sources() -> list[str]:
    """The filter's source list, cached for a few minutes (it changes when a new channel appears)."""
    key = f"analytics:sources:v{VERSION}"
    found = _get(key)
    if found is None:
        found = selectors.sources()
        _set(key, found, SOURCES_FOR)
    return found
