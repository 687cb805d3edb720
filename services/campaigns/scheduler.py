"""Starts scheduled campaigns on time, from exactly one replica.

One APScheduler 3 BackgroundScheduler with an in-memory job store per process;
only the replica holding the leader lock keeps date jobs. Its jobs only
enqueue: they move the campaign to running with a conditional UPDATE, so a job
that runs twice (or on two leaders for a moment) starts the campaign once.
A periodic sync re-reads scheduled campaigns from the database: it rebuilds
the jobs after a restart, picks up campaigns scheduled on another replica,
retries a start that failed, and starts past-due campaigns at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from meshkit.errors import DomainError
from services.campaigns.ledger import Clock, utc_now
from services.campaigns.service import CampaignsService

log = logging.getLogger(__name__)

_START = "start:"
LOCK_NAME = "crm-campaigns-scheduler"


class LeaderLock(Protocol):
    def acquire(self) -> bool:
        """True while this process holds the lock (tries to take it when it does not)."""
        ...

    def release(self) -> None: ...


class SoleLeader:
    """One process on SQLite: it is the leader."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


class PostgresLeader:
    """A session-level advisory lock held on a dedicated connection.

    PostgreSQL releases it when that connection dies, so another replica takes over.
    """

    def __init__(self, engine: Engine, name: str = LOCK_NAME):
        self._engine = engine
        self._name = name
        self._connection: Connection | None = None
        self._guard = threading.Lock()

    def acquire(self) -> bool:
        with self._guard:
            if self._connection is not None and self._alive(self._connection):
                return True
            self._drop()
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            held = connection.execute(
                text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": self._name}
            ).scalar()
            if held:
                self._connection = connection
                return True
            connection.close()
            return False

    def release(self) -> None:
        with self._guard:
            if self._connection is not None:
                try:
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": self._name}
                    )
                except DBAPIError:
                    pass
            self._drop()

    @staticmethod
    def _alive(connection: Connection) -> bool:
        try:
            connection.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            return False

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except DBAPIError:
                pass
            self._connection = None


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
        self._leader = leader
        self._runner = runner
        self._sync_seconds = sync_seconds
        self._grace = misfire_grace_seconds
        self._clock = clock
        self._leading = False
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        """Starts the scheduler; the first sync (leader lock, jobs from the database) runs now."""
        self._scheduler.add_job(
            self.sync,
            "interval",
            seconds=self._sync_seconds,
            id="sync",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self._sync_seconds)),
        )
        self._scheduler.start()

    def stop(self) -> None:
        """Stops planning; a start in progress finishes on its own (it is one transaction)."""
        if self._scheduler.running:
            # wait=True would hold the job store lock while a running sync waits for it.
            self._scheduler.shutdown(wait=False)
        self._leader.release()

    def sync(self) -> None:
        """Aligns date jobs with the scheduled campaigns in the database, if leading."""
        if not self._scheduler.running:
            return
        try:
            self._leading = self._leader.acquire()
        except DBAPIError:
            log.warning("scheduler: leader lock unavailable")
            self._leading = False
        if not self._scheduler.running:  # stopped meanwhile: do not keep the lock
            self._leader.release()
            return
        jobs = {job.id: job for job in self._scheduler.get_jobs() if job.id.startswith(_START)}
        if not self._leading:
            for job_id in jobs:
                self._remove(job_id)
            return
        wanted = {
            f"{_START}{cid}": (cid, send_at) for cid, send_at in self._service.scheduled_starts()
        }
        for job_id, job in jobs.items():
            if job_id not in wanted or job.args[1] != wanted[job_id][1]:
                self._remove(job_id)
        for job_id, (campaign_id, send_at) in wanted.items():
            if job_id not in jobs or jobs[job_id].args[1] != send_at:
                self._add(campaign_id, send_at)

    def notify(self, campaign_id: str, send_at: datetime) -> None:
        """A campaign was (re)scheduled in this process: plan it now rather than at next sync."""
        if self._leading and self._scheduler.running:
            self._add(campaign_id, send_at)

    def start_campaign(self, campaign_id: str, send_at: datetime) -> None:
        """The date job: enqueue the campaign (idempotent); a failure is retried by the sync."""
        try:
            if self._service.start_scheduled(campaign_id, send_at, self._runner):
                log.info("scheduled campaign %s started", campaign_id)
        except DomainError as error:
            log.warning("scheduled campaign %s not started yet: %s", campaign_id, error.detail)

    def _remove(self, job_id: str) -> None:
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:  # it has just run
            pass

    def _add(self, campaign_id: str, send_at: datetime) -> None:
        # A past-due start runs at once: a date in the past would only count as a misfire.
        run_date = max(send_at, self._clock())
        self._scheduler.add_job(
            self.start_campaign,
            "date",
            run_date=run_date,
            args=[campaign_id, send_at],
            id=f"{_START}{campaign_id}",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=self._grace,
        )
