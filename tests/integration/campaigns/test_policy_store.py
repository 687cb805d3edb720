"""The pressure policy's versions in PostgreSQL (and SQLite): round trip, refusals, races."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from meshkit.db import Database, make_engine
from meshkit.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from meshkit.identity import Principal
from services.campaigns.bootstrap import migrate_schema
from services.campaigns.policy_store import PolicyStore
from services.campaigns.pressure_policy import (
    BudgetRule,
    PressurePolicy,
    QuietHours,
    Scope,
    default_policy,
)
from tests.support.stores import fresh_postgres
from tests.unit.campaigns.test_policy_validation import (
    COMPONENTS,
    flawed_policies,
    valid_policies,
)

ADMIN = Principal("admin@grouping", roles=frozenset({"admin"}))
MANAGER = Principal("bob@sciences", "sciences", roles=frozenset({"campaign_manager", "dpo"}))
FALLBACK = default_policy(3, 604800)
TABLE = "campaigns_pressure_policy_versions"
WEEKLY = BudgetRule("grouping-weekly", Scope.GROUPING, "", 3, 604800)


def store_of(db: Database, **kwargs: object) -> PolicyStore:
    return PolicyStore(db, FALLBACK, components=lambda: COMPONENTS, **kwargs)  # type: ignore[arg-type]


def count_versions(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar_one())


@pytest.fixture
def fresh_db() -> Iterator[Database]:
    """A database of this test alone: the versions table cannot be emptied between tests."""
    with fresh_postgres("campaigns_policy") as url:
        engine = make_engine(url)
        migrate_schema(engine)
        yield Database(engine)
        engine.dispose()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# --- round trip and refusals, for all inputs --------------------------------------------------


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(policy=valid_policies())
def test_any_valid_policy_round_trips_through_put_and_current(
    db: Database, policy: PressurePolicy
) -> None:
    writer = store_of(db)
    before = writer.current_version().version
    written = writer.put(ADMIN, policy, before, "a note")
    expected = replace(policy, version=before + 1, changed_by=ADMIN.subject, note="a note")
    assert written == expected
    assert writer.current() == expected
    # Read back from the database by a store with no cache (another replica).
    assert store_of(db, cache_seconds=0).current() == expected


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=flawed_policies())
def test_any_invalid_policy_is_refused_on_its_field_and_writes_nothing(
    db: Database, case: tuple[PressurePolicy, str]
) -> None:
    policy, path = case
    store = store_of(db, cache_seconds=0)
    before = store.current()
    rows = count_versions(db)
    with pytest.raises(InvalidArgument) as refused:
        store.put(ADMIN, policy, before.version, "")
    assert path in {v.field for v in refused.value.violations}
    assert store.current() == before
    assert count_versions(db) == rows


def test_only_an_admin_writes_and_a_refused_writer_writes_nothing(db: Database) -> None:
    store = store_of(db, cache_seconds=0)
    before = store.current()
    rows = count_versions(db)
    policy = PressurePolicy(version=0, rules=(WEEKLY,))
    with pytest.raises(PermissionDenied) as refused:
        store.put(MANAGER, policy, before.version, "")
    assert "admin" in refused.value.detail
    with pytest.raises(PermissionDenied):
        store.put(Principal("svc", roles=frozenset({"service"})), policy, before.version, "")
    assert (store.current(), count_versions(db)) == (before, rows)


def test_a_note_too_long_and_a_negative_expected_version_are_field_violations(
    db: Database,
) -> None:
    store = store_of(db, cache_seconds=0)
    rows = count_versions(db)
    policy = PressurePolicy(version=0, rules=(WEEKLY,))
    with pytest.raises(InvalidArgument) as refused:
        store.put(ADMIN, policy, -1, "x" * 501)
    assert {v.field for v in refused.value.violations} == {"note", "expected_version"}
    assert count_versions(db) == rows


# --- the fallback and optimistic concurrency --------------------------------------------------


def test_with_no_version_the_settings_rule_is_in_force(fresh_db: Database) -> None:
    store = store_of(fresh_db)
    assert store.current() == FALLBACK
    assert store.current_version().changed_at is None
    assert store.at(datetime.now(UTC)) == FALLBACK
    assert store.history() == ([], "")


def test_a_put_from_a_stale_version_is_refused_and_changes_nothing(fresh_db: Database) -> None:
    store = store_of(fresh_db, cache_seconds=0)
    first = store.put(ADMIN, PressurePolicy(version=0, rules=(WEEKLY,)), 0, "first")
    assert first.version == 1
    stricter = PressurePolicy(version=0, rules=(replace(WEEKLY, max_messages=1),))
    with pytest.raises(FailedPrecondition) as refused:
        store.put(ADMIN, stricter, 0, "from what I read before")
    assert "version 1" in refused.value.detail
    assert store.current() == first
    assert count_versions(fresh_db) == 1


def race(store: PolicyStore, expected: int, writers: int) -> list[PressurePolicy | Exception]:
    """`writers` threads, released together, each putting its own policy from `expected`."""
    barrier = threading.Barrier(writers)
    results: list[PressurePolicy | Exception] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        mine = PressurePolicy(version=0, rules=(replace(WEEKLY, max_messages=n + 1),))
        barrier.wait()
        try:
            outcome: PressurePolicy | Exception = store.put(ADMIN, mine, expected, f"w{n}")
        except FailedPrecondition as error:
            outcome = error
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_admins_writing_from_the_same_version_exactly_one_wins(fresh_db: Database) -> None:
    """Threads on PostgreSQL, released together, each from version N: one N+1, no overwrite."""
    store = store_of(fresh_db, cache_seconds=0)
    writers = 6
    for round_ in range(5):
        expected = store.current().version
        results = race(store, expected, writers)
        winners = [r for r in results if isinstance(r, PressurePolicy)]
        losers = [r for r in results if isinstance(r, FailedPrecondition)]
        assert len(results) == writers, round_
        assert len(winners) == 1 and len(losers) == writers - 1, round_
        assert winners[0].version == expected + 1
        assert store.current() == winners[0]  # the winner's policy, not a loser's
    assert count_versions(fresh_db) == 5


def test_on_sqlite_too_exactly_one_of_the_racing_writers_wins(tmp_path: Path) -> None:
    """The embedded mode: one SQLite file, writers in threads of one process."""
    engine = make_engine(f"sqlite:///{tmp_path / 'campaigns.db'}")
    migrate_schema(engine)
    store = store_of(Database(engine), cache_seconds=0)
    for expected in range(3):
        results = race(store, expected, 6)
        assert sum(isinstance(r, PressurePolicy) for r in results) == 1
        assert sum(isinstance(r, FailedPrecondition) for r in results) == 5
    assert store.current().version == 3
    engine.dispose()


# --- time: at(T), history, cache --------------------------------------------------------------


def test_at_returns_the_version_in_force_at_each_moment(fresh_db: Database) -> None:
    start = datetime(2030, 1, 1, 8, tzinfo=UTC)
    clock = Clock(start)
    store = store_of(fresh_db, clock=clock, cache_seconds=0)
    written = []
    for n in range(1, 5):
        clock.now = start + timedelta(days=n)
        policy = PressurePolicy(version=0, rules=(replace(WEEKLY, max_messages=n),))
        written.append(store.put(ADMIN, policy, n - 1, f"change {n}"))
    assert store.at(start) == FALLBACK
    assert store.at(start + timedelta(days=1) - timedelta(microseconds=1)) == FALLBACK
    for n, policy in enumerate(written, start=1):
        moment = start + timedelta(days=n)
        assert store.at(moment) == policy  # in force from the instant it was written
        assert store.at(moment + timedelta(hours=23)) == policy
    assert store.at(start + timedelta(days=400)) == written[-1]
    # The same instant, written in another zone.
    instant = start + timedelta(days=2, hours=1)
    assert store.at(instant.astimezone(ZoneInfo("America/Montreal"))) == written[1]
    with pytest.raises(InvalidArgument):
        store.at(datetime(2030, 1, 2))  # no offset: which instant?


def test_a_clock_running_late_never_puts_a_version_before_the_previous_one(
    fresh_db: Database,
) -> None:
    clock = Clock(datetime(2030, 6, 1, tzinfo=UTC))
    store = store_of(fresh_db, clock=clock, cache_seconds=0)
    first = store.put(ADMIN, PressurePolicy(version=0, rules=(WEEKLY,)), 0, "")
    clock.now -= timedelta(hours=1)  # another replica, an hour behind
    second = store.put(ADMIN, PressurePolicy(version=0, rules=(), min_gap_seconds=60), 1, "")
    versions, _ = store.history()
    assert [v.policy for v in versions] == [second, first]
    assert versions[0].changed_at == versions[1].changed_at
    assert store.at(datetime(2030, 6, 1, tzinfo=UTC)) == second


def test_history_pages_are_complete_and_newest_first(fresh_db: Database) -> None:
    clock = Clock(datetime(2031, 1, 1, tzinfo=UTC))
    store = store_of(fresh_db, clock=clock, cache_seconds=0)
    for n in range(23):
        clock.now += timedelta(minutes=1)
        policy = PressurePolicy(version=0, rules=(replace(WEEKLY, max_messages=n + 1),))
        store.put(ADMIN, policy, n, f"change {n + 1}")
    seen = []
    token = ""
    pages = 0
    while True:
        page, token = store.history(5, token)
        assert len(page) <= 5
        seen += page
        pages += 1
        if not token:
            break
    assert pages == 5
    assert [v.version for v in seen] == list(range(23, 0, -1))
    assert [v.policy.note for v in seen] == [f"change {n}" for n in range(23, 0, -1)]
    times = [v.changed_at for v in seen if v.changed_at is not None]
    assert len(times) == len(seen) and times == sorted(times, reverse=True)
    assert all(v.policy.changed_by == ADMIN.subject for v in seen)
    everything, last = store.history(100)
    assert everything == seen and last == ""
    with pytest.raises(InvalidArgument) as refused:
        store.history(5, "not-a-token")
    assert [v.field for v in refused.value.violations] == ["page_token"]
    with pytest.raises(InvalidArgument):
        store.history(-1)


def test_current_is_cached_for_its_seconds_then_read_again(fresh_db: Database) -> None:
    clock = Clock(datetime(2032, 1, 1, tzinfo=UTC))
    reader = store_of(fresh_db, clock=clock, cache_seconds=5.0)
    writer = store_of(fresh_db, clock=clock, cache_seconds=5.0)
    assert reader.current() == FALLBACK
    written = writer.put(ADMIN, PressurePolicy(version=0, rules=(WEEKLY,)), 0, "")
    assert writer.current() == written  # the writing replica sees its own change at once
    clock.now += timedelta(seconds=4)
    assert reader.current() == FALLBACK  # another replica: within its cache time
    clock.now += timedelta(seconds=1)
    assert reader.current() == written
    second = writer.put(ADMIN, PressurePolicy(version=0, rules=(), min_gap_seconds=60), 1, "")
    clock.now -= timedelta(hours=1)  # the wall clock stepped back: read again, keep nothing
    assert reader.current() == second


# --- append-only, on both databases -----------------------------------------------------------


def _one_version(db: Database) -> None:
    hours = QuietHours(*(datetime(2030, 1, 1, h).time() for h in (21, 8)))
    policy = PressurePolicy(version=0, rules=(WEEKLY,), quiet_hours=hours)
    store_of(db).put(ADMIN, policy, 0, "")


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_version_row_cannot_be_updated_nor_deleted(backend: str, tmp_path: Path) -> None:
    def check(db: Database) -> None:
        _one_version(db)
        for statement in (
            f"UPDATE {TABLE} SET note = 'rewritten' WHERE version = 1",
            f"UPDATE {TABLE} SET document = '{{}}'",
            f"DELETE FROM {TABLE} WHERE version = 1",
            f"DELETE FROM {TABLE}",
        ):
            with pytest.raises(DBAPIError) as refused:
                with db.engine.begin() as connection:
                    connection.execute(text(statement))
            assert "append-only" in str(refused.value.orig)
        if db.is_postgres:
            with pytest.raises(DBAPIError):
                with db.engine.begin() as connection:
                    connection.execute(text(f"TRUNCATE {TABLE}"))
        store = store_of(db, cache_seconds=0)
        assert store.current().version == 1 and store.current().note == ""
        assert count_versions(db) == 1

    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'campaigns.db'}")
        migrate_schema(engine)
        check(Database(engine))
        engine.dispose()
        return
    with fresh_postgres("campaigns_policy_append") as url:
        engine = make_engine(url)
        migrate_schema(engine)
        check(Database(engine))
        engine.dispose()
