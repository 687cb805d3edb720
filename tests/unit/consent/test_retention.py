"""Retention: one revalidation window, then a lapse, counted from the last positive act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.consent.retention import (
    Stage,
    Standing,
    add_months,
    expires_at,
    revalidation_from,
    run_key,
    stage,
)

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
standings = st.builds(
    Standing,
    last_positive_event_id=st.uuids().map(str),
    last_positive_at=moments,
    retention_months=st.integers(min_value=2, max_value=120),
)


@given(moment=moments, months=st.integers(min_value=0, max_value=240))
def test_adding_months_keeps_the_time_and_never_overflows_a_month(
    moment: datetime, months: int
) -> None:
    later = add_months(moment, months)
    assert (later.year - moment.year) * 12 + later.month - moment.month == months
    assert later.time() == moment.time() and later.day <= moment.day
    assert later >= moment


@given(
    standing=standings,
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=12000)),
)
def test_stages_follow_each_other_in_time(standing: Standing, offset: timedelta) -> None:
    now = standing.last_positive_at + offset
    expected = (
        Stage.LAPSE
        if now >= expires_at(standing)
        else Stage.REVALIDATE
        if now >= revalidation_from(standing)
        else Stage.CURRENT
    )
    assert stage(standing, now) is expected
    # The window to answer lasts about a month, before the end.
    window = expires_at(standing) - revalidation_from(standing)
    assert timedelta(days=28) <= window <= timedelta(days=31)


def test_thirty_five_months_asks_and_thirty_six_lapses() -> None:
    granted = Standing("g1", datetime(2023, 3, 31, 9, 0, tzinfo=UTC))
    assert stage(granted, datetime(2026, 1, 30, tzinfo=UTC)) is Stage.CURRENT
    assert stage(granted, datetime(2026, 2, 28, 9, 0, tzinfo=UTC)) is Stage.REVALIDATE
    assert stage(granted, datetime(2026, 3, 31, 9, 0, tzinfo=UTC)) is Stage.LAPSE


@given(
    standing=standings,
    renewal=st.timedeltas(min_value=timedelta(days=1), max_value=timedelta(days=4000)),
)
def test_a_renewal_starts_a_cycle_with_new_run_keys(standing: Standing, renewal: timedelta) -> None:
    renewed = Standing("renewal", standing.last_positive_at + renewal, standing.retention_months)
    for act in (Stage.REVALIDATE, Stage.LAPSE):
        assert run_key(standing, act) != run_key(renewed, act)
        assert run_key(standing, act) == run_key(Standing(**vars(standing)), act)
    assert expires_at(renewed) > expires_at(standing)
