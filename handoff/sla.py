"""Business-hours arithmetic for SLA clocks. Pure: zoneinfo and datetimes only.

A team works on `workdays` (0 = Monday) between `start` and `end` local time, except `holidays`.
An SLA of N business hours started on Friday 16:00 with a 09:00-17:00 Monday-Friday week is due
Monday 09:00 + (N - 1) hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Schedule:
    timezone: str = "UTC"
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone
        if not self.workdays or not set(self.workdays) <= set(range(7)):
            raise ValueError("workdays must be a non-empty set of 0 (Monday) to 6 (Sunday)")
        if self.start >= self.end:
            raise ValueError("the working day must start before it ends")

    def _is_workday(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        tz = ZoneInfo(self.timezone)
        return datetime.combine(day, self.start, tz), datetime.combine(day, self.end, tz)


def add_business_hours(moment: datetime, hours: float, schedule: Schedule) -> datetime:
    """The moment `hours` working hours after `moment` (which must be timezone-aware)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    remaining = timedelta(hours=hours)
    local = moment.astimezone(ZoneInfo(schedule.timezone))
    day = local.date()
    for _ in range(3660):  # ten years of days: a schedule always has working days
        if schedule._is_workday(day):
            opens, closes = schedule._window(day)
            begin = max(opens, local)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
        local = datetime.combine(day, time(0), ZoneInfo(schedule.timezone))
    raise ValueError("no working time found in ten years; check the schedule")


def business_hours_between(a: datetime, b: datetime, schedule: Schedule) -> float:
    """Working hours from a to b (negative when b is before a)."""
    if b < a:
        return -business_hours_between(b, a, schedule)
    tz = ZoneInfo(schedule.timezone)
    a_local, b_local = a.astimezone(tz), b.astimezone(tz)
    total = timedelta()
    day = a_local.date()
    while day <= b_local.date():
        if schedule._is_workday(day):
            opens, closes = schedule._window(day)
            begin, finish = max(opens, a_local), min(closes, b_local)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds() / 3600
