"""The ledger on PostgreSQL (and SQLite): claims never overlap, closed rows stay closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from meshkit.db import Database, make_engine
from services.campaigns.bootstrap import migrate_schema
from services.campaigns.ledger import Ledger, insert_pending, outcome_counts
from services.campaigns.models import Campaign, Delivery
from services.campaigns.policy import Outcome


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["postgres", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'campaigns.db'}"
    )
    engine = make_engine(url)
    migrate_schema(engine)
    database = Database(engine)
    yield database
    with database.transaction() as session:
        session.query(Delivery).delete()
        session.query(Campaign).delete()
    engine.dispose()


def add_campaign(db: Database, contact_ids: list[str], status: str = "running") -> str:
    campaign_id = f"camp-{len(contact_ids)}-{datetime.now().timestamp()}"
    with db.transaction() as session:
        session.add(
            Campaign(
                id=campaign_id,
                name="n",
                owner_component="sciences",
                purpose="newsletter",
                subject_template="s",
                body_template="b",
                audience_kind="contact_ids",
                audience_ids=contact_ids,
                status=status,
                created_by="t",
                created_at=datetime.now(UTC),
                started_at=datetime.now(UTC),
            )
        )
        session.flush()
        insert_pending(session, campaign_id, contact_ids)
    return campaign_id


def test_starting_twice_adds_no_row(db: Database) -> None:
    campaign_id = add_campaign(db, ["a", "b"])
    with db.transaction() as session:
        insert_pending(session, campaign_id, ["a", "b", "c"])
    with db.transaction() as session:
        assert outcome_counts(session, [campaign_id]) == {campaign_id: {"pending": 3}}


def test_two_concurrent_claimers_never_get_the_same_row(db: Database) -> None:
    ids = [f"c{i}" for i in range(400)]
    add_campaign(db, ids)
    ledger = Ledger(db)
    claimed: dict[str, list[str]] = {"w1": [], "w2": []}
    barrier = threading.Barrier(2)

    def claimer(worker: str) -> None:
        barrier.wait()
        while batch := ledger.claim(worker, 7, lease_seconds=300):
            claimed[worker] += [row.contact_id for row in batch.rows]

    threads = [threading.Thread(target=claimer, args=(w,)) for w in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = claimed["w1"] + claimed["w2"]
    assert sorted(both) == sorted(ids)  # every row once, none twice
    assert len(set(both)) == len(both)


def test_a_lapsed_lease_is_reclaimed_and_a_closed_row_never_is(db: Database) -> None:
    clock = Clock()
    add_campaign(db, ["a", "b", "c"])
    ledger = Ledger(db, clock)
    first = ledger.claim("w1", 10, lease_seconds=60)
    assert first is not None and [r.contact_id for r in first.rows] == ["a", "b", "c"]
    assert ledger.claim("w2", 10, lease_seconds=60) is None  # leased to w1
    row_a, row_b, _ = first.rows
    assert ledger.mark_sending("w1", row_a.id, "<m1@x>", lease_seconds=60)
    assert ledger.close_sent("w1", row_a.id, "consent:consent_given")
    ledger.decide("w1", [(row_b.id, Outcome.NO_CONSENT, "consent:no_consent")])

    clock.now += timedelta(seconds=61)  # w1 died with "c" in hand
    second = ledger.claim("w2", 10, lease_seconds=60)
    assert second is not None and [r.contact_id for r in second.rows] == ["c"]
    # w1 wakes up: it no longer holds "c", so nothing it does to "c" counts.
    assert not ledger.mark_sending("w1", second.rows[0].id, "<m2@x>", lease_seconds=60)
    assert not ledger.close_sent("w1", second.rows[0].id, "consent:consent_given")


def test_a_row_whose_send_started_comes_back_in_doubt(db: Database) -> None:
    clock = Clock()
    campaign_id = add_campaign(db, ["a"])
    ledger = Ledger(db, clock)
    batch = ledger.claim("w1", 10, lease_seconds=60)
    assert batch is not None
    assert ledger.mark_sending("w1", batch.rows[0].id, "<m@x>", lease_seconds=60)
    clock.now += timedelta(seconds=61)
    again = ledger.claim("w2", 10, lease_seconds=60)
    assert again is not None and again.rows[0].in_doubt
    ledger.close_in_doubt("w2", list(again.rows))
    with db.transaction() as session:
        row = session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)).one()
    assert (row.outcome, row.rule, row.message_id) == ("sent", "smtp:unconfirmed", "<m@x>")
    assert ledger.claim("w3", 10, lease_seconds=60) is None


def test_released_rows_wait_for_the_retry_delay(db: Database) -> None:
    clock = Clock()
    add_campaign(db, ["a"])
    ledger = Ledger(db, clock)
    batch = ledger.claim("w1", 10, lease_seconds=300)
    assert batch is not None
    ledger.mark_sending("w1", batch.rows[0].id, "<m@x>", lease_seconds=300)
    ledger.release("w1", [batch.rows[0].id], retry_after_seconds=30)
    assert ledger.claim("w1", 10, lease_seconds=300) is None
    clock.now += timedelta(seconds=31)
    again = ledger.claim("w1", 10, lease_seconds=300)
    assert again is not None and not again.rows[0].in_doubt


def test_only_running_campaigns_are_claimed_and_empty_ones_finish(db: Database) -> None:
    draft = add_campaign(db, ["a"], status="draft")
    running = add_campaign(db, ["b"])
    ledger = Ledger(db)
    batch = ledger.claim("w1", 10, lease_seconds=300)
    assert batch is not None and batch.campaign.id == running
    assert ledger.finish_campaigns() == []
    ledger.decide("w1", [(batch.rows[0].id, Outcome.NOT_FOUND, "membership")])
    assert ledger.finish_campaigns() == [running]
    with db.transaction() as session:
        assert session.get(Campaign, draft).status == "draft"  # type: ignore[union-attr]


def test_recent_sends_count_sent_and_in_flight_rows_only(db: Database) -> None:
    clock = Clock()
    add_campaign(db, ["a", "b", "c", "d"])
    ledger = Ledger(db, clock)
    batch = ledger.claim("w1", 10, lease_seconds=300)
    assert batch is not None
    a, b, c, _ = batch.rows
    ledger.mark_sending("w1", a.id, "<a@x>", 300)
    ledger.close_sent("w1", a.id, "consent:consent_given")
    ledger.mark_sending("w1", b.id, "<b@x>", 300)  # in flight
    ledger.decide("w1", [(c.id, Outcome.CAPPED, "pressure:global:1/1s")])
    sends = ledger.recent_sends(["a", "b", "c", "d"], clock.now - timedelta(hours=1))
    assert sorted(s.contact_id for s in sends) == ["a", "b"]
    assert all(s.at == clock.now for s in sends)
    assert ledger.recent_sends(["a", "b"], clock.now + timedelta(seconds=1)) == []
