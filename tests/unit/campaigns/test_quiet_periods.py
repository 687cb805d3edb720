"""Quiet hours in the contact's own time zone, and quiet dates per component."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.pressure_policy import (
    PressurePolicy,
    QuietDates,
    QuietHours,
    quiet_until,
)

NIGHT = QuietHours(time(21, 0), time(8, 0))
POLICY = PressurePolicy(1, (), quiet_hours=NIGHT)
ZONES = ["Europe/Paris", "America/Montreal", "Pacific/Noumea"]


@pytest.mark.parametrize("zone", ZONES)
def test_night_in_the_contacts_own_zone(zone: str) -> None:
    local = ZoneInfo(zone)
    # 23:30 local: quiet until 08:00 local the next morning.
    late = datetime(2026, 3, 10, 23, 30, tzinfo=local)
    quiet = quiet_until(POLICY, "sciences", zone, late.astimezone(UTC))
    assert quiet is not None
    assert quiet.until == datetime(2026, 3, 11, 8, 0, tzinfo=local).astimezone(UTC)
    assert quiet.rule == "quiet:hours"
    # 10:00 local is not quiet, whatever time it is in Paris.
    assert quiet_until(POLICY, "sciences", zone, datetime(2026, 3, 10, 10, tzinfo=local)) is None


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    instant = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 13:00 Paris, 08:00 Montreal, 23:00 Nouméa
    assert quiet_until(POLICY, "x", "Europe/Paris", instant) is None
    assert quiet_until(POLICY, "x", "America/Montreal", instant) is None
    assert quiet_until(POLICY, "x", "Pacific/Noumea", instant) is not None


def test_an_unknown_zone_falls_back_to_the_policy_default() -> None:
    instant = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)  # 23:00 in Paris
    assert quiet_until(POLICY, "x", "Not/AZone", instant) == quiet_until(
        POLICY, "x", "Europe/Paris", instant
    )


def test_quiet_dates_of_a_component_join_the_following_night() -> None:
    exams = QuietDates("exams", "sciences", date(2026, 6, 1), date(2026, 6, 12), "examens")
    policy = PressurePolicy(1, (), quiet_hours=NIGHT, quiet_dates=(exams,))
    paris = ZoneInfo("Europe/Paris")
    during = datetime(2026, 6, 5, 11, 0, tzinfo=paris)
    quiet = quiet_until(policy, "sciences", "Europe/Paris", during)
    assert quiet is not None
    # The dates end at midnight, inside the night: the first allowed time is 08:00 on the 13th.
    assert quiet.until == datetime(2026, 6, 13, 8, 0, tzinfo=paris).astimezone(UTC)
    assert quiet.rule == "quiet:dates:exams"
    # Another component is not in exams.
    assert quiet_until(policy, "lettres", "Europe/Paris", during) is None


@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
    st.integers(0, 23),
    st.integers(0, 23),
)
def test_the_end_of_a_quiet_period_is_never_quiet_and_never_earlier(
    at: datetime, zone: str, start: int, end: int
) -> None:
    if start == end:
        return
    policy = PressurePolicy(1, (), quiet_hours=QuietHours(time(start), time(end)))
    quiet = quiet_until(policy, "x", zone, at)
    if quiet is None:
        local = at.astimezone(ZoneInfo(zone)).time()
        inside = (
            (start <= local.hour < end)
            if start < end
            else (local.hour >= start or local.hour < end)
        )
        assert not inside
        return
    assert quiet.until > at
    assert quiet.until - at <= timedelta(hours=25)  # one period at most (DST adds an hour)
    assert quiet_until(policy, "x", zone, quiet.until) is None
