"""meshkit.scheduling on a real PostgreSQL: one leader at a time, and one run per run key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, func, select, text

from meshkit.db import Database, make_engine
from meshkit.scheduling import (
    LeaderScheduler,
    PostgresLeader,
    SoleLeader,
    claim_run,
    job_runs_table,
)
from tests.support.stores import fresh_postgres

BOUND = 20.0  # seconds: a bounded wait, never an assertion on time


def wait_for(condition: Callable[[], bool], timeout: float = BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_postgres("meshkit") as url:
        yield url


@pytest.fixture
def engines(pg_url: str) -> Iterator[list[Engine]]:
    """Two engines on one database: what two replicas look like."""
    made = [make_engine(pg_url), make_engine(pg_url)]
    yield made
    for engine in made:
        engine.dispose()


def terminate_advisory_holders(engine: Engine) -> int:
    """Kills the server side of every connection holding an advisory lock in this database."""
    with engine.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND pid <> pg_backend_pid()"
            )
        ).all()
    return len(killed)


def test_only_one_of_two_postgres_leaders_holds_the_lock(engines: list[Engine]) -> None:
    first, second = (PostgresLeader(e, name="test-one-leader") for e in engines)
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        assert first.acquire() is True  # still ours
        first.release()
        assert second.acquire() is True
        assert first.acquire() is False
    finally:
        first.release()
        second.release()


def test_the_other_leader_takes_over_when_the_first_ones_connection_dies(
    engines: list[Engine],
) -> None:
    first, second = (PostgresLeader(e, name="test-leader-death") for e in engines)
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        # The server ends the leader's session, as when its replica or network dies.
        assert terminate_advisory_holders(engines[1]) == 1
        wait_for(second.acquire)
        assert first.acquire() is False  # its connection is gone; the lock is the other's now
    finally:
        first.release()
        second.release()


def test_two_schedulers_run_their_job_only_while_leading(engines: list[Engine]) -> None:
    runs = {"a": 0, "b": 0}
    lock = threading.Lock()

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            with lock:
                runs[name] += 1

        return run

    a = LeaderScheduler(PostgresLeader(engines[0], "test-two-schedulers"), sync_seconds=0.1)
    b = LeaderScheduler(PostgresLeader(engines[1], "test-two-schedulers"), sync_seconds=0.1)
    a.add_periodic(job("a"), job_id="tick", seconds=0.05, misfire_grace_seconds=1)
    b.add_periodic(job("b"), job_id="tick", seconds=0.05, misfire_grace_seconds=1)
    a.start()
    wait_for(lambda: a.leading)
    b.start()
    try:
        wait_for(lambda: runs["a"] >= 3)
        assert b.job("tick") is not None  # b has the job, but does not lead
        assert not b.leading and runs["b"] == 0
        a.stop()  # a replica shuts down: it lets the lock go
        wait_for(lambda: b.leading)
        wait_for(lambda: runs["b"] >= 3)
    finally:
        a.stop()
        b.stop()


def test_a_date_job_is_dropped_when_leadership_is_lost() -> None:
    class Switch:
        held = True

        def acquire(self) -> bool:
            return self.held

        def release(self) -> None:
            return None

    switch = Switch()
    runner = LeaderScheduler(switch, sync_seconds=3600)
    runner.start()
    try:
        wait_for(lambda: runner.leading)
        from datetime import UTC, datetime, timedelta

        later = datetime.now(UTC) + timedelta(hours=1)
        assert runner.add_once(lambda: None, job_id="once", run_date=later, misfire_grace_seconds=5)
        assert runner.job("once") is not None
        switch.held = False
        runner.sync()
        assert runner.job("once") is None
        assert not runner.add_once(
            lambda: None, job_id="once", run_date=later, misfire_grace_seconds=5
        )
    finally:
        runner.stop()


@pytest.fixture(params=["postgres", "sqlite"])
def runs_db(request: pytest.FixtureRequest, pg_url: str, tmp_path: Path) -> Iterator[Database]:
    """A database with a `<service>_job_runs` table, as a service's migration creates it."""
    url = pg_url if request.param == "postgres" else f"sqlite:///{tmp_path / 'runs.db'}"
    engine = make_engine(url)
    metadata = MetaData()
    job_runs_table(metadata, "meshtest").create(engine, checkfirst=True)
    yield Database(engine)
    metadata.drop_all(engine)
    engine.dispose()


def test_a_run_key_claimed_by_two_threads_at_once_runs_once(runs_db: Database) -> None:
    table = job_runs_table(MetaData(), "meshtest")
    start = threading.Barrier(2)
    done: list[str] = []
    errors: list[BaseException] = []

    def replica(name: str) -> None:
        try:
            start.wait(BOUND)
            with runs_db.transaction() as session:
                if claim_run(session, table, "daily", "2025-03-14", name):
                    time.sleep(0.3)  # the work, while the other replica tries the same key
                    done.append(name)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=replica, args=(n,)) for n in ("r1", "r2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
    assert errors == []
    assert len(done) == 1
    with runs_db.transaction() as session:
        ran_by = session.scalars(select(table.c.ran_by).where(table.c.job == "daily")).all()
        assert ran_by == done
        # Another key of the same job is a new run.
        assert claim_run(session, table, "daily", "2025-03-15", "r2") is True


def test_a_run_that_failed_frees_its_key(runs_db: Database) -> None:
    table = job_runs_table(MetaData(), "meshtest")
    with pytest.raises(RuntimeError):
        with runs_db.transaction() as session:
            assert claim_run(session, table, "retry", "k", "r1") is True
            raise RuntimeError("the work failed")
    with runs_db.transaction() as session:
        assert claim_run(session, table, "retry", "k", "r2") is True
        assert claim_run(session, table, "retry", "k", "r3") is False
        count = session.scalar(select(func.count()).select_from(table))
    assert count == 1


def test_the_sole_leader_always_leads() -> None:
    leader = SoleLeader()
    assert leader.acquire() is True
    leader.release()
    assert leader.acquire() is True
