"""The rollup's calendar and one person's part of a month, computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.disclosure import Reason, Rules
from meshkit.identity import Principal
from services.campaigns.monthly_report import dashboard_csv, report_month, summary_text
from services.campaigns.pressure_dashboard import Dashboard, may_read
from services.campaigns.pressure_publication import Figure
from services.campaigns.pressure_rollup import (
    HeldBack,
    Response,
    Sent,
    bucket_of,
    month_bounds,
    person_figures,
    week_month,
    weeks_span,
)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_buckets() -> None:
    assert [bucket_of(n) for n in (1, 2, 9, 10, 57)] == ["1", "2", "9", "10+", "10+"]


def test_an_iso_week_belongs_to_the_month_of_its_thursday() -> None:
    # Monday 2026-09-28 .. Sunday 2026-10-04: Thursday 1 October
    assert week_month(at("2026-09-28")) == ("2026-W40", "2026-10")
    # Monday 2026-10-26 .. Sunday 2026-11-01: Thursday 29 October
    assert week_month(at("2026-11-01")) == ("2026-W44", "2026-10")
    assert week_month(at("2026-11-02")) == ("2026-W45", "2026-11")
    assert weeks_span("2026-10") == (at("2026-09-28", 0), at("2026-11-02", 0))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
def test_every_moment_of_a_months_weeks_lies_in_its_span(moment: datetime) -> None:
    moment = moment.replace(tzinfo=UTC)
    _, month = week_month(moment)
    start, end = weeks_span(month)
    assert start <= moment < end
    first, last = month_bounds(month)
    # the weeks of a month start and end within three days of its own bounds
    assert abs(start - first) <= timedelta(days=3) and abs(end - last) <= timedelta(days=3)


def test_one_persons_month() -> None:
    sent = [
        Sent("sciences", "newsletter", at("2026-10-05")),  # W41
        Sent("sciences", "newsletter", at("2026-10-06")),  # W41
        Sent("lettres", "events", at("2026-10-07")),  # W41
        Sent("lettres", "events", at("2026-10-20")),  # W43
        Sent("lettres", "events", at("2026-09-29")),  # W40: in October's weeks, not its month
    ]
    held = [
        HeldBack("sciences", "newsletter", True, "pressure:weekly:2/604800s", at("2026-10-08")),
        HeldBack("lettres", "events", True, "quiet:hours", at("2026-10-09")),
    ]
    figures = person_figures(
        "2026-10", sent, held, [Response("withdrawn", "lettres", "events")]
    ).units
    assert figures[("contacts_reached", "", "", "")] == 1
    assert figures[("messages_per_month", "", "", "4")] == 1
    assert figures[("messages_per_month", "sciences", "", "2")] == 1
    assert figures[("messages_per_month", "lettres", "events", "2")] == 1
    # W40: 1 (lettres); W41: 3 (2 sciences, 1 lettres); W43: 1
    assert figures[("messages_per_week", "", "", "1")] == 2
    assert figures[("messages_per_week", "", "", "3")] == 1
    assert figures[("messages_per_week", "", "", "")] == 3
    assert figures[("messages_per_week", "lettres", "", "1")] == 3
    assert figures[("deferrals", "", "", "")] == 2
    assert figures[("at_cap", "sciences", "newsletter", "")] == 1
    assert ("at_cap", "lettres", "events", "") not in figures  # a quiet period is no cap
    assert figures[("unsubscribes", "lettres", "events", "")] == 1


@pytest.mark.parametrize(
    ("principal", "component", "allowed"),
    [
        (Principal("c", roles=frozenset({"communication"})), "", True),
        (Principal("a", roles=frozenset({"admin"})), "", True),
        (Principal("d", roles=frozenset({"dpo"})), "", True),
        (Principal("d", component="sciences", roles=frozenset({"dpo"})), "", False),
        (Principal("m", component="sciences", roles=frozenset({"campaign_manager"})), "", False),
        (Principal("m", component="sciences", roles=frozenset({"viewer"})), "sciences", True),
        (Principal("m", component="sciences", roles=frozenset({"viewer"})), "lettres", False),
        (Principal("s", roles=frozenset({"service"})), "", False),
    ],
)
def test_who_may_read_which_view(principal: Principal, component: str, allowed: bool) -> None:
    assert may_read(principal, component) is allowed


def test_the_csv_defuses_formulas_and_the_summary_quotes_published_figures_only() -> None:
    figures = [
        Figure("contacts_reached", "", "", "", 1234, None),
        Figure("unsubscribes", "", "", "", None, Reason.TOO_FEW_CONTACTS),
        Figure("deferrals", "=cmd", "+x", "", 99, None),
    ]
    dashboard = Dashboard("2026-10", "", Rules(), figures, None)
    text = dashboard_csv(dashboard)
    assert text.startswith("series,component,purpose,bucket,published,value,reason\r\n")
    assert "deferrals,'=cmd,'+x,,true,99,\r\n" in text
    assert "unsubscribes,,,,false,,too_few_contacts\r\n" in text
    summary = summary_text(dashboard)
    assert "1234" in summary and "non publié" in summary and "not published" in summary


def test_the_report_of_a_run_is_the_previous_month_in_paris() -> None:
    # 1 November 07:00 in Paris is 06:00 UTC
    assert report_month(datetime(2026, 11, 1, 6, 0, tzinfo=UTC)) == "2026-10"
    assert report_month(datetime(2027, 1, 1, 6, 0, tzinfo=UTC)) == "2026-12"
