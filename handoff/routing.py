"""Who gets the next lead: weighted fair share among SDRs who can take it. Pure.

Eligible: active, not out of office today, under capacity (open leads), and in the lead's
territory: SDRs with countries/segments listed take only leads that match; when some SDR's
territory matches a lead, only those SDRs are considered, otherwise the general pool (SDRs with no
territory) is. Among the eligible, the one furthest below their weighted share of recent
assignments wins, so over time assignments follow the weights (2 means twice as many leads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Candidate:
    user_id: int
    weight: int = 1
    capacity: int = 50
    open_leads: int = 0
    recent_assignments: int = 0
    is_active: bool = True
    out_of_office_until: date | None = None
    countries: frozenset[str] = field(default_factory=frozenset)
    segments: frozenset[str] = field(default_factory=frozenset)
    last_assigned_at: datetime | None = None


def segment_for(employee_count: int | None) -> str:
    if employee_count is None:
        return "unknown"
    if employee_count >= 1000:
        return "enterprise"
    if employee_count >= 100:
        return "mid_market"
    return "smb"


def _available(c: Candidate, today: date) -> bool:
    away = c.out_of_office_until is not None and c.out_of_office_until >= today
    return c.is_active and not away and c.weight > 0 and c.open_leads < c.capacity


def _covers(c: Candidate, country: str, segment: str) -> bool:
    return (not c.countries or country in c.countries) and (not c.segments or segment in c.segments)


def choose(candidates: Sequence[Candidate], *, country: str, segment: str, today: date) -> int | None:
    """The user id of the SDR who should get this lead, or None when nobody can take it."""
    available = [c for c in candidates if _available(c, today)]
    specialists = [c for c in available if (c.countries or c.segments) and _covers(c, country, segment)]
    pool = specialists or [c for c in available if not c.countries and not c.segments]
    if not pool:
        return None

    def key(c: Candidate):
        waited = c.last_assigned_at.timestamp() if c.last_assigned_at else float("-inf")
        return ((c.recent_assignments + 1) / c.weight, waited, c.user_id)

    return min(pool, key=key).user_id
