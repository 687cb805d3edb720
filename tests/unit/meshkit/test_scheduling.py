"""meshkit.scheduling without a database: run keys and the runner's arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from meshkit.scheduling import LeaderScheduler, SoleLeader, daily_run_key


def test_a_daily_run_key_is_the_utc_date() -> None:
    paris = timezone(timedelta(hours=1))
    assert daily_run_key(datetime(2025, 3, 14, 0, 30, tzinfo=paris)) == "2025-03-13"
    assert daily_run_key(datetime(2025, 3, 14, 23, 59, tzinfo=UTC)) == "2025-03-14"


def test_a_periodic_job_needs_exactly_one_trigger() -> None:
    runner = LeaderScheduler(SoleLeader(), sync_seconds=60)
    with pytest.raises(ValueError):
        runner.add_periodic(lambda: None, job_id="x", misfire_grace_seconds=5)


def test_a_job_added_before_leading_does_not_run_and_no_date_job_is_kept() -> None:
    ran: list[int] = []
    runner = LeaderScheduler(SoleLeader(), sync_seconds=60)
    runner.add_periodic(lambda: ran.append(1), job_id="tick", seconds=60, misfire_grace_seconds=5)
    job = runner.job("tick")
    assert job is not None and job.misfire_grace_time == 5
    job.func()  # fired before any sync took the lock
    assert ran == []
    later = datetime.now(UTC) + timedelta(hours=1)
    assert not runner.add_once(lambda: None, job_id="d", run_date=later, misfire_grace_seconds=5)
