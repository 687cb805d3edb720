"""Starts scheduled campaigns on time, from exactly one replica.

It runs on meshkit's LeaderScheduler (one APScheduler 3 BackgroundScheduler
with an in-memory job store per process; only the replica holding the leader
lock keeps date jobs). Its jobs only enqueue: they move the campaign to running
with a conditional UPDATE and claim the run key `campaign-start`/(campaign,
send_at), so a job that runs twice (or on two leaders for a moment) starts the
campaign once. Each sync re-reads scheduled campaigns from the database: it
rebuilds the jobs after a restart, picks up campaigns scheduled on another
replica, retries a start that failed, and starts past-due campaigns at once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from meshkit.errors import DomainError
from meshkit.scheduling import LeaderLock, LeaderScheduler
from services.campaigns.ledger import Clock, utc_now
from services.campaigns.service import CampaignsService

log = logging.getLogger(__name__)

_START = "start:"
LOCK_NAME = "crm-campaigns-scheduler"


class CampaignScheduler:
    """Keeps one date job per scheduled campaign while this replica leads."""

    def __init__(
        self,
        service: CampaignsService,
        leader: LeaderLock,
        runner: str,
        sync_seconds: float,
        misfire_grace_seconds: int,
        clock: Clock = utc_now,
    ):
        self._service = service
        self._runner_name = runner
        self._grace = misfire_grace_seconds
        self._clock = clock
        self.runner = LeaderScheduler(leader, sync_seconds=sync_seconds, on_sync=self._align)

    def start(self) -> None:
        """Starts the scheduler; the first sync (leader lock, jobs from the database) runs now."""
        self.runner.start()

    def stop(self) -> None:
        """Stops planning; a start in progress finishes on its own (it is one transaction)."""
        self.runner.stop()

    def sync(self) -> None:
        """Aligns date jobs with the scheduled campaigns in the database, if leading."""
        self.runner.sync()

    def notify(self, campaign_id: str, send_at: datetime) -> None:
        """A campaign was (re)scheduled in this process: plan it now rather than at next sync."""
        self._add(campaign_id, send_at)

    def forget(self, campaign_id: str) -> None:
        """A campaign was unscheduled or cancelled in this process: drop its start now.

        Another replica's leader drops it at its next sync; a start that fires
        meanwhile finds the campaign no longer scheduled and does nothing.
        """
        self.runner.remove(f"{_START}{campaign_id}")

    def start_campaign(self, campaign_id: str, send_at: datetime) -> None:
        """The date job: enqueue the campaign (idempotent); a failure is retried by the sync."""
        try:
            if self._service.start_scheduled(campaign_id, send_at, self._runner_name):
                log.info("scheduled campaign %s started", campaign_id)
        except DomainError as error:
            log.warning("scheduled campaign %s not started yet: %s", campaign_id, error.detail)

    def _align(self, leading: bool) -> None:
        if not leading:
            return  # the runner has dropped our date jobs
        jobs = {job.id: job for job in self.runner.jobs() if job.id.startswith(_START)}
        wanted = {
            f"{_START}{cid}": (cid, send_at) for cid, send_at in self._service.scheduled_starts()
        }
        for job_id, job in jobs.items():
            if job_id not in wanted or job.args[1] != wanted[job_id][1]:
                self.runner.remove(job_id)
        for job_id, (campaign_id, send_at) in wanted.items():
            if job_id not in jobs or jobs[job_id].args[1] != send_at:
                self._add(campaign_id, send_at)

    def _add(self, campaign_id: str, send_at: datetime) -> None:
        # A past-due start runs at once: a date in the past would only count as a misfire.
        self.runner.add_once(
            self.start_campaign,
            job_id=f"{_START}{campaign_id}",
            run_date=max(send_at, self._clock()),
            args=[campaign_id, send_at],
            misfire_grace_seconds=self._grace,
        )
