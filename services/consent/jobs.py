"""The consent service's scheduled work, on meshkit's one leader scheduler.

Three jobs, each run only by the replica holding the leader lock, each safe to
run twice (their work is claimed row by row or by run key):

- the mail outbox, every few seconds and right after a commit that enqueued;
- the retention run, daily: revalidation mail in a consent's last month, an
  `expired` event after it;
- the privacy requests, every few seconds: each due step is tried, until every
  service has answered.

Each runs once soon after start too, so owed mail and open requests survive a
restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from meshkit.scheduling import LeaderScheduler
from services.consent.outbox_job import RETENTION_JOB

log = logging.getLogger(__name__)

OUTBOX_JOB = "consent-outbox"
OUTBOX_NOW_JOB = "consent-outbox-now"
PRIVACY_JOB = "privacy-requests"


class ConsentJobs:
    """The outbox, the daily retention run and the privacy requests, on one leader scheduler."""

    def __init__(
        self,
        runner: LeaderScheduler,
        deliver: Callable[[], int],
        retain: Callable[[], object],
        advance_privacy: Callable[[], object],
        *,
        outbox_seconds: float,
        retention_hour: int,
        retention_misfire_seconds: int,
        privacy_seconds: float,
        privacy_misfire_seconds: int,
    ):
        self._runner = runner
        self._deliver = deliver
        runner.add_periodic(
            self.deliver,
            job_id=OUTBOX_JOB,
            seconds=outbox_seconds,
            misfire_grace_seconds=max(1, int(outbox_seconds)),
        )
        runner.add_periodic(
            _logged(retain, "retention"),
            job_id=RETENTION_JOB,
            trigger=CronTrigger(hour=retention_hour, timezone=UTC),
            misfire_grace_seconds=retention_misfire_seconds,
        )
        runner.add_periodic(
            _logged(advance_privacy, "privacy requests"),
            job_id=PRIVACY_JOB,
            seconds=privacy_seconds,
            misfire_grace_seconds=privacy_misfire_seconds,
        )

    def start(self) -> None:
        self._runner.start()

    def stop(self) -> None:
        self._runner.stop()

    def deliver(self) -> None:
        """One pass over the due outbox entries; a failure waits for the next pass."""
        _logged(self._deliver, "outbox")()

    def kick(self) -> None:
        """Delivers soon, rather than at the next pass (after a commit that enqueued)."""
        self._runner.add_once(
            self.deliver,
            job_id=OUTBOX_NOW_JOB,
            run_date=datetime.now(UTC),
            misfire_grace_seconds=30,
        )


def _logged(func: Callable[[], object], name: str) -> Callable[[], None]:
    def run() -> None:
        try:
            func()
        except Exception:
            log.exception("%s: the job run failed", name)

    run.__name__ = name
    return run
