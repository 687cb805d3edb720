"""The privacy-request job: a thin APScheduler interval job around advance_open_requests.

One run is idempotent and safe beside another replica's (row locks), so every
replica may run it; it runs once at start, so requests survive a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

JOB_ID = "privacy-requests"


class PrivacyJob:
    """Runs `advance` every `interval_seconds`, never two runs at once in this process."""

    def __init__(
        self, advance: Callable[[], int], interval_seconds: float, misfire_grace_seconds: int
    ):
        self._advance = advance
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.run,
            "interval",
            seconds=interval_seconds,
            id=JOB_ID,
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=misfire_grace_seconds,
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def run(self) -> None:
        """One pass over the due requests; a failure waits for the next pass."""
        try:
            taken = self._advance()
        except Exception:
            log.exception("privacy requests: the job run failed")
            return
        if taken:
            log.info("privacy requests: %d attempted", taken)
