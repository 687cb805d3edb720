"""Aggregate snapshots on a real PostgreSQL: a repeated question answers from the stored
summaries (proved by changing the data underneath, not by timing), a policy change
invalidates at once, the refresher recomputes the stale and drops the unasked, the auditor
still sees through snapshots, and the table holds no contact id."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from meshkit.db import Database, make_engine
from meshkit.disclosure import Statistic
from meshkit.errors import PermissionDenied, Unavailable
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts import aggregate_snapshots
from services.contacts.aggregate_snapshots import SnapshotRow, refresh
from services.contacts.aggregates import AggregateQuery, Answer, Scope, aggregate
from services.contacts.models import AggregateAuditRow, Base, FieldPolicyRow, ValueRow, utcnow
from tests.integration.contacts.aggregate_world import (
    SECRET,
    answered_cells,
    load,
    principal,
    random_world,
)
from tests.integration.contacts.harness import ContactsServer
from tests.support.stores import fresh_postgres

HOUR = 3600.0
BY_SECTOR = AggregateQuery("*.taxe", Statistic.SUM, 0, ("sector",), Scope.GROUPING)
TOTAL = AggregateQuery("*.taxe", Statistic.SUM, 0, (), Scope.GROUPING)


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    with fresh_postgres("contacts_snapshots") as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield Database(engine)
        engine.dispose()


@pytest.fixture
def world(db: Database) -> Any:
    world = random_world(21, contacts=150)
    load(db, world)
    with db.transaction() as session:
        session.execute(delete(SnapshotRow))
    return world


def ask(db: Database, component: str, query: AggregateQuery, ttl: float | None) -> Answer:
    return aggregate(db, principal(component), query, SECRET, snapshot_seconds=ttl)


def raise_every_tax(db: Database, by: int) -> None:
    """Every tax value grows: same contacts (the auditor sees the same sets), new sums."""
    with db.transaction() as session:
        session.execute(
            update(ValueRow)
            .where(ValueRow.field.like("%.taxe"))
            .values(number_value=ValueRow.number_value + by)
        )


def forget_history(db: Database) -> None:
    with db.transaction() as session:
        session.execute(delete(AggregateAuditRow))


def snapshots(db: Database) -> list[SnapshotRow]:
    with db.transaction() as session:
        found = list(session.scalars(select(SnapshotRow)))
        session.expunge_all()
    return found


def age_snapshots(db: Database, by: timedelta) -> None:
    with db.transaction() as session:
        session.execute(
            text("UPDATE aggregate_snapshots SET computed_at = computed_at - :by"), {"by": by}
        )


QUERIES = [
    BY_SECTOR,
    AggregateQuery("*.taxe", Statistic.MEDIAN, 0, ("sector",), Scope.GROUPING),
    AggregateQuery("*.taxe", Statistic.MEAN, 0, ("component", "kind"), Scope.GROUPING),
    AggregateQuery("", Statistic.COUNT, 0, ("kind", "year"), Scope.REACH),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q.statistic}-{'-'.join(q.dimensions)}")
def test_a_snapshot_answers_as_the_statement_does(
    db: Database, world: Any, query: AggregateQuery
) -> None:
    fresh = ask(db, "droit", query, None)
    forget_history(db)
    stored = ask(db, "droit", query, HOUR)  # computes and stores
    forget_history(db)
    again = ask(db, "droit", query, HOUR)  # reads the snapshot back
    assert len(snapshots(db)) == 1
    assert answered_cells(stored) == answered_cells(fresh) == answered_cells(again)
    assert again.as_of == stored.as_of
    assert len(again.cells) > 1
    if query.dimensions == ("sector",):  # figures, not only suppressed cells, went through
        assert any(c.published for c in again.cells)


def test_a_second_ask_within_the_ttl_does_not_run_the_statement(db: Database, world: Any) -> None:
    first = ask(db, "droit", BY_SECTOR, HOUR)
    raise_every_tax(db, 1000)
    second = ask(db, "droit", BY_SECTOR, HOUR)
    # the data changed underneath, the figures did not: they are the snapshot's
    assert answered_cells(second) == answered_cells(first)
    assert second.as_of == first.as_of
    # the TTL passed (0 here): the statement runs again and the new figures appear
    third = ask(db, "droit", BY_SECTOR, 0)
    assert answered_cells(third) != answered_cells(first)
    assert third.as_of > first.as_of
    forget_history(db)
    assert answered_cells(third) == answered_cells(ask(db, "droit", BY_SECTOR, None))
    # and the recomputed snapshot serves the next ask within a TTL
    fourth = ask(db, "droit", BY_SECTOR, HOUR)
    assert fourth.as_of == third.as_of


def test_with_every_statement_slot_taken_a_new_question_waits_then_is_refused_unchanged(
    db: Database, world: Any
) -> None:
    """The statement reads the whole base for seconds: a process runs only so many at once.
    A question that would need one more is UNAVAILABLE (ask again) and records nothing; a
    question its snapshot answers needs no slot."""
    warm = ask(db, "droit", BY_SECTOR, HOUR)
    slots = aggregate_snapshots.StatementSlots(2, wait_seconds=0.2)

    def bounded(query: AggregateQuery) -> Answer:
        return aggregate(db, principal("droit"), query, SECRET, snapshot_seconds=HOUR, slots=slots)

    with slots.held(), slots.held():
        before = audit_rows(db)
        with pytest.raises(Unavailable, match="ask again"):
            bounded(TOTAL)
        assert audit_rows(db) == before
        assert len(snapshots(db)) == 1  # the refused question stored nothing either
        forget_history(db)
        assert answered_cells(bounded(BY_SECTOR)) == answered_cells(warm)
    forget_history(db)
    assert bounded(TOTAL).cells  # a slot is free again


def audit_rows(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AggregateAuditRow)) or 0)


def test_another_caller_component_is_another_snapshot(db: Database, world: Any) -> None:
    ask(db, "droit", BY_SECTOR, HOUR)
    raise_every_tax(db, 1000)
    other = ask(db, "medecine", BY_SECTOR, HOUR)  # its own plan: computed now
    forget_history(db)
    assert answered_cells(other) == answered_cells(ask(db, "medecine", BY_SECTOR, None))
    assert len(snapshots(db)) == 2


def test_a_policy_change_invalidates_the_snapshot_at_once(db: Database, world: Any) -> None:
    first = ask(db, "droit", BY_SECTOR, HOUR)
    version = snapshots(db)[0].organisation_version
    raise_every_tax(db, 1000)
    with db.transaction() as session:  # a policy unrelated to the question: any change counts
        session.execute(
            update(FieldPolicyRow)
            .where(FieldPolicyRow.field == "droit.note")
            .values(updated_by="someone else")
        )
    second = ask(db, "droit", BY_SECTOR, HOUR)
    assert answered_cells(second) != answered_cells(first)
    assert second.as_of > first.as_of
    (snapshot,) = snapshots(db)
    assert snapshot.organisation_version > version


def test_the_refresher_recomputes_a_stale_snapshot_and_drops_an_unasked_one(
    db: Database, world: Any
) -> None:
    first = ask(db, "droit", BY_SECTOR, HOUR)
    ask(db, "medecine", TOTAL, HOUR)
    assert refresh(db, SECRET, HOUR, 60).recomputed == 0  # both younger than half the TTL
    with db.transaction() as session:  # medecine's question: unasked for 8 days
        session.execute(
            update(SnapshotRow)
            .where(SnapshotRow.plan["component"].as_string() == "medecine")
            .values(last_asked_at=utcnow() - timedelta(days=8))
        )
    age_snapshots(db, timedelta(minutes=40))  # older than half the TTL, younger than it
    raise_every_tax(db, 1000)
    done = refresh(db, SECRET, HOUR, 60)
    assert (done.recomputed, done.dropped, done.failed) == (1, 1, 0)
    (kept,) = snapshots(db)
    assert kept.plan["component"] == "droit"
    second = ask(db, "droit", BY_SECTOR, HOUR)  # from the refreshed snapshot
    assert second.as_of == kept.computed_at > first.as_of
    forget_history(db)
    assert answered_cells(second) == answered_cells(ask(db, "droit", BY_SECTOR, None))
    # run again at once: nothing is stale, nothing changes (idempotent)
    again = refresh(db, SECRET, HOUR, 60)
    assert (again.recomputed, again.dropped) == (0, 0)
    assert snapshots(db)[0].computed_at == kept.computed_at


def test_the_refresher_skips_what_it_may_not_recompute_and_survives_a_failure(
    db: Database, world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ask(db, "droit", BY_SECTOR, HOUR)
    ask(db, "droit", TOTAL, HOUR)
    age_snapshots(db, timedelta(hours=2))
    # another secret: its digests are not these, so it recomputes nothing (sketches would lie)
    other = refresh(db, "another secret", HOUR, 60)
    assert (other.recomputed, other.skipped) == (0, 2)
    with db.transaction() as session:  # one plan is broken: the other is still refreshed
        broken = session.scalars(select(SnapshotRow)).first()
        assert broken is not None
        broken_digest = broken.digest
        session.execute(
            update(SnapshotRow)
            .where(SnapshotRow.digest == broken_digest)
            .values(plan={"measures": [], "axes": [{"no": "source"}]})
        )
    with caplog.at_level(logging.INFO, logger=aggregate_snapshots.__name__):
        done = refresh(db, SECRET, HOUR, 60)
    assert (done.recomputed, done.failed) == (1, 1)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert broken_digest[:12] in logged and "KeyError" in logged
    assert broken_digest not in logged and SECRET not in logged
    # a policy change: a plan of the old organisation is not recomputed (rights may differ)
    age_snapshots(db, timedelta(hours=2))
    with db.transaction() as session:
        session.execute(delete(SnapshotRow).where(SnapshotRow.digest == broken_digest))
        session.execute(
            update(FieldPolicyRow)
            .where(FieldPolicyRow.field == "droit.note")
            .values(updated_by="someone else")
        )
    stale = refresh(db, SECRET, HOUR, 60)
    assert (stale.recomputed, stale.skipped) == (0, 1)


def test_the_differencing_attack_is_refused_when_both_answers_are_snapshots(
    db: Database, world: Any
) -> None:
    ask(db, "droit", TOTAL, HOUR)
    with db.transaction() as session:  # one contact's taxes leave the grouping's figures
        victim = session.scalars(
            select(ValueRow.contact_id).where(ValueRow.field == "sciences.taxe").limit(1)
        ).one()
        kept = [
            {c.key: getattr(row, c.key) for c in ValueRow.__table__.columns}
            for row in session.scalars(select(ValueRow).where(ValueRow.contact_id == victim))
        ]
        session.execute(delete(ValueRow).where(ValueRow.contact_id == victim))
    age_snapshots(db, timedelta(hours=2))
    assert refresh(db, SECRET, HOUR, 60).recomputed == 1  # the snapshot without the victim
    with db.transaction() as session:  # back in the data: a fresh statement would match the
        session.execute(insert(ValueRow), kept)  # first answer exactly, and be allowed
    with pytest.raises(PermissionDenied) as refused:
        ask(db, "droit", TOTAL, HOUR)  # the refreshed snapshot answers: one contact fewer
    assert "fewer than 5 contacts" in str(refused.value)
    # the control: the statement itself sees the first answer's contacts again, and passes
    ask(db, "droit", TOTAL, None)


def test_the_snapshot_table_holds_no_contact_id_nor_private_value(db: Database, world: Any) -> None:
    for query in QUERIES:
        ask(db, "droit", query, HOUR)
    with db.transaction() as session:
        dumped = " ".join(
            str(row) for row in session.execute(text("SELECT * FROM aggregate_snapshots"))
        )
        columns = [
            c
            for (c,) in session.execute(
                text(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = 'aggregate_snapshots'"
                )
            )
        ]
    assert sorted(columns) == sorted(
        ["digest", "plan", "rows", "computed_at", "last_asked_at", "organisation_version"]
    )
    assert len(dumped) > 1000  # the summaries are there
    for contact_id in world.contacts:
        assert contact_id not in dumped
        assert contact_id.replace("-", "") not in dumped
    assert "MARKER-7f3a" not in dumped and "987654321" not in dumped
    assert SECRET not in dumped


def test_the_served_service_answers_from_its_snapshot_with_as_of(server: ContactsServer) -> None:
    """`crm serve contacts` on PostgreSQL: snapshots on by default (300 s), `as_of` sent."""
    db = Database(server.engine)
    load(db, random_world(22, contacts=150))
    request = pb.AggregateRequest(
        measure="*.taxe",
        statistic=pb.STATISTIC_SUM,
        dimensions=["sector"],
        scope=pb.AGGREGATE_SCOPE_GROUPING,
    )
    token = server.keys.issuer.mint("analyst@droit", component="droit", roles=["viewer"])
    first = server.call("Aggregate", request, token)
    raise_every_tax(db, 1000)
    second = server.call("Aggregate", request, token)
    assert list(second.cells) == list(first.cells)
    assert second.as_of == first.as_of
    as_of = datetime.fromisoformat(first.as_of.replace("Z", "+00:00"))
    assert as_of.tzinfo is not None and first.as_of.endswith("Z")
    assert server.count("aggregate_snapshots") == 1
    log = server.log_file.read_text()
    assert "Traceback" not in log
