"""One leader lock and one scheduler for every service: periodic jobs that run once per key.

APScheduler 3 with a shared job store runs jobs twice or misses them (its FAQ;
agronholm/apscheduler#129, #160). So each process keeps its own in-memory
BackgroundScheduler, and only the process holding the leader lock runs jobs;
every run is also made idempotent with a unique run key, so a job that fires
twice, or on two leaders for a moment (a lock handed over mid-run), does its
work once.

The pieces:

- `LeaderLock`: `acquire()` is True while this process leads (it tries to take
  the lock when it does not hold it), `release()` lets it go. `PostgresLeader`
  holds a session-level advisory lock on a dedicated connection: PostgreSQL
  releases it when that connection dies, so another replica takes over at its
  next sync. `SoleLeader` is the one process of an embedded (SQLite) run.
  `leader_for(engine, name)` picks the right one.
- `LeaderScheduler`: the runner. A `sync` job, every `sync_seconds`, takes or
  checks the lock, then calls `on_sync(leading)` (a service aligns its dynamic
  jobs there). `add_periodic(...)` adds an interval or cron job and
  `add_once(...)` a date job; both need an explicit misfire grace time, both
  run only while leading, and date jobs are dropped when leadership is lost.
- Run keys: each service owns a table `<service>_job_runs(job, run_key)`
  (primary key on both), declared with `job_runs_table(metadata, service)` and
  created by the service's own migration. `claim_run(session, table, job,
  run_key, ran_by)` inserts the key or skips it, in the caller's transaction:
  True means "this run is yours". Put the work in that same transaction and a
  failed run frees its key again; on PostgreSQL a concurrent claimer of the
  same key waits for the first transaction, then skips. `daily_run_key(now)`
  names a run per UTC day.

A daily job of another service (e.g. consent's revalidation) looks like:

    runner = LeaderScheduler(leader_for(engine, "crm-consent-scheduler"), sync_seconds=5)
    runner.add_periodic(
        revalidate, job_id="revalidation", trigger=CronTrigger(hour=3, timezone=UTC),
        misfire_grace_seconds=3600,
    )
    runner.start()

    def revalidate() -> None:
        with db.transaction() as session:
            if claim_run(session, JOB_RUNS, "revalidation", daily_run_key(now()), me):
                ...  # the day's work, once, however many replicas fire
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from meshkit.db import UtcDateTime

log = logging.getLogger(__name__)

SYNC_JOB = "sync"


# --- Leader lock ---------------------------------------------------------------------------


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

    def __init__(self, engine: Engine, name: str):
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
            try:
                held = connection.execute(
                    text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": self._name}
                ).scalar()
            except DBAPIError:
                connection.close()
                raise
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


def leader_for(engine: Engine, name: str) -> LeaderLock:
    """An advisory lock named `name` on PostgreSQL; the sole process on SQLite."""
    return PostgresLeader(engine, name) if engine.dialect.name == "postgresql" else SoleLeader()


# --- Runner --------------------------------------------------------------------------------


def _ignore(_leading: bool) -> None:
    return None


class LeaderScheduler:
    """One BackgroundScheduler per process whose jobs run only while it holds the leader lock."""

    def __init__(
        self,
        leader: LeaderLock,
        *,
        sync_seconds: float,
        on_sync: Callable[[bool], None] = _ignore,
    ):
        self._leader = leader
        self._sync_seconds = sync_seconds
        self._on_sync = on_sync
        self._leading = False
        self._once: set[str] = set()
        self._guard = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone=UTC)

    @property
    def leading(self) -> bool:
        """True when the last sync found this process holding the lock."""
        return self._leading

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        """Starts the scheduler; the first sync (lock, then `on_sync`) runs now."""
        self._scheduler.add_job(
            self.sync,
            "interval",
            seconds=self._sync_seconds,
            id=SYNC_JOB,
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self._sync_seconds)),
        )
        self._scheduler.start()

    def stop(self) -> None:
        """Stops planning and lets the lock go; a job in progress finishes on its own."""
        if self._scheduler.running:
            # wait=True would hold the job store lock while a running sync waits for it.
            self._scheduler.shutdown(wait=False)
        self._leading = False
        self._leader.release()

    def sync(self) -> None:
        """Takes or checks the leader lock, drops date jobs when not leading, calls `on_sync`."""
        if not self._scheduler.running:
            return
        try:
            leading = self._leader.acquire()
        except DBAPIError:
            log.warning("scheduler: leader lock unavailable")
            leading = False
        if not self._scheduler.running:  # stopped meanwhile: do not keep the lock
            self._leader.release()
            return
        if leading != self._leading:
            log.info("scheduler: %s", "leading" if leading else "following")
        self._leading = leading
        if not leading:
            for job_id in list(self._once):
                self.remove(job_id)
        self._on_sync(leading)

    def add_periodic(
        self,
        func: Callable[[], None],
        *,
        job_id: str,
        trigger: BaseTrigger | None = None,
        seconds: float | None = None,
        misfire_grace_seconds: int,
    ) -> None:
        """A job on `trigger` (or every `seconds`), run only while leading; one run at a time."""
        if (trigger is None) == (seconds is None):
            raise ValueError("give a trigger or seconds, not both")
        chosen = trigger if trigger is not None else IntervalTrigger(seconds=seconds, timezone=UTC)
        self._scheduler.add_job(
            self._gated(func),
            chosen,
            id=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=misfire_grace_seconds,
        )

    def add_once(
        self,
        func: Callable[..., None],
        *,
        job_id: str,
        run_date: datetime,
        args: Sequence[Any] = (),
        misfire_grace_seconds: int,
    ) -> bool:
        """A date job, replacing one of the same id; False (nothing added) when not leading."""
        if not (self._leading and self._scheduler.running):
            return False
        with self._guard:
            self._once.add(job_id)
        self._scheduler.add_job(
            self._gated(func),
            "date",
            run_date=run_date,
            args=list(args),
            id=job_id,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=misfire_grace_seconds,
        )
        return True

    def remove(self, job_id: str) -> None:
        """Removes a job, if it is still there."""
        with self._guard:
            self._once.discard(job_id)
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:  # it has just run
            pass

    def job(self, job_id: str) -> Job | None:
        return self._scheduler.get_job(job_id)

    def jobs(self) -> list[Job]:
        return list(self._scheduler.get_jobs())

    def _gated(self, func: Callable[..., None]) -> Callable[..., None]:
        def gated(*args: Any) -> None:
            if self._leading:
                func(*args)

        gated.__name__ = getattr(func, "__name__", "job")
        return gated


# --- Run keys ------------------------------------------------------------------------------


def job_runs_table(metadata: MetaData, service: str) -> Table:
    """The table `<service>_job_runs`: one row per (job, run key) that ran."""
    return Table(
        f"{service}_job_runs",
        metadata,
        Column("job", String(100), primary_key=True),
        Column("run_key", String(200), primary_key=True),
        Column("ran_by", String(200), nullable=False),
        Column("ran_at", UtcDateTime, nullable=False),
    )


def claim_run(
    session: Session, table: Table, job: str, run_key: str, ran_by: str, now: datetime | None = None
) -> bool:
    """Inserts (job, run_key) in the caller's transaction: True when this run is the first."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(job=job, run_key=run_key, ran_by=ran_by, ran_at=now or datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["job", "run_key"])
        .returning(table.c.job)
    )
    # RETURNING, not rowcount: the driver may count a skipped row (psycopg 3 does).
    return session.execute(statement).first() is not None


def daily_run_key(moment: datetime) -> str:
    """The run key of a once-a-day job: the UTC date of `moment`, e.g. "2025-03-14"."""
    return moment.astimezone(UTC).date().isoformat()
