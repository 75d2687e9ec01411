from datetime import UTC, date, datetime, time

import pytest

from handoff.routing import Candidate, choose, segment_for
from handoff.sla import Schedule, add_business_hours, business_hours_between

NINE_TO_FIVE = Schedule(timezone="Europe/Berlin")


def test_sla_inside_the_working_day():
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday 10:00 Berlin
    assert add_business_hours(start, 4, NINE_TO_FIVE) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def test_sla_carries_over_the_weekend():
    friday_4pm_berlin = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    # one hour left on Friday, three more from Monday 09:00 Berlin (08:00 UTC)
    assert add_business_hours(friday_4pm_berlin, 4, NINE_TO_FIVE) == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def test_sla_started_at_night_begins_next_morning_and_skips_holidays():
    schedule = Schedule(timezone="UTC", holidays=frozenset({date(2026, 12, 25)}))
    christmas_eve_night = datetime(2026, 12, 24, 22, 0, tzinfo=UTC)
    assert add_business_hours(christmas_eve_night, 2, schedule) == datetime(2026, 12, 28, 11, 0, tzinfo=UTC)


def test_business_hours_between_counts_only_working_time():
    a = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    b = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    assert business_hours_between(a, b, NINE_TO_FIVE) == pytest.approx(4)
    assert business_hours_between(b, a, NINE_TO_FIVE) == pytest.approx(-4)


def test_a_schedule_must_make_sense():
    with pytest.raises(ValueError):
        Schedule(start=time(17), end=time(9))
    with pytest.raises(ValueError):
        Schedule(workdays=frozenset())


TODAY = date(2026, 12, 1)


def simulate(candidates, n, country="US", segment="smb"):
    counts = {c.user_id: 0 for c in candidates}
    cands = list(candidates)
    for _ in range(n):
        chosen = choose(cands, country=country, segment=segment, today=TODAY)
        counts[chosen] += 1
        cands = [
            Candidate(**{**c.__dict__, "recent_assignments": c.recent_assignments + 1})
            if c.user_id == chosen
            else c
            for c in cands
        ]
    return counts


def test_routing_follows_the_weights():
    counts = simulate(
        [
            Candidate(1, weight=1, capacity=10**6),
            Candidate(2, weight=2, capacity=10**6),
            Candidate(3, weight=3, capacity=10**6),
        ],
        600,
    )
    assert counts == {1: 100, 2: 200, 3: 300}


def test_routing_skips_out_of_office_inactive_and_full_sdrs():
    candidates = [
        Candidate(1, out_of_office_until=TODAY),
        Candidate(2, is_active=False),
        Candidate(3, capacity=5, open_leads=5),
        Candidate(4),
    ]
    assert choose(candidates, country="US", segment="smb", today=TODAY) == 4
    assert choose(candidates[:3], country="US", segment="smb", today=TODAY) is None


def test_back_from_holiday_sdr_gets_leads_again():
    assert (
        choose(
            [Candidate(1, out_of_office_until=date(2026, 11, 30))], country="US", segment="smb", today=TODAY
        )
        == 1
    )


def test_territory_rules_send_leads_to_their_specialists():
    dach = Candidate(1, countries=frozenset({"DE", "AT", "CH"}))
    enterprise = Candidate(2, segments=frozenset({"enterprise"}))
    generalist = Candidate(3)
    assert choose([dach, enterprise, generalist], country="DE", segment="smb", today=TODAY) == 1
    assert choose([dach, enterprise, generalist], country="US", segment="enterprise", today=TODAY) == 2
    assert choose([dach, enterprise, generalist], country="US", segment="smb", today=TODAY) == 3


def test_segments_by_company_size():
    assert [segment_for(n) for n in (None, 10, 100, 5000)] == ["unknown", "smb", "mid_market", "enterprise"]
