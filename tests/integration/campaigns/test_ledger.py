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
    assert (row.outcome, row.rule, row.message_id) == ("unconfirmed", "smtp:worker_lost", "<m@x>")
    assert row.sent_at is None  # nobody saw it leave
    assert ledger.claim("w3", 10, lease_seconds=60) is None
    with db.transaction() as session:
        assert outcome_counts(session, [campaign_id])[campaign_id] == {"unconfirmed": 1}


def test_a_send_whose_reply_was_lost_is_closed_unconfirmed_for_good(db: Database) -> None:
    clock = Clock()
    campaign_id = add_campaign(db, ["a"])
    ledger = Ledger(db, clock)
    batch = ledger.claim("w1", 10, lease_seconds=60)
    assert batch is not None
    (row,) = batch.rows
    assert ledger.mark_sending("w1", row.id, "<m@x>", lease_seconds=60)
    assert ledger.close_unconfirmed("w1", row.id, "smtp:reply_lost")
    ledger.release("w1", [row.id], retry_after_seconds=0)  # a closed row is not given back
    clock.now += timedelta(seconds=61)
    assert ledger.claim("w2", 10, lease_seconds=60) is None
    assert ledger.finish_campaigns() == [campaign_id]
    with db.transaction() as session:
        closed = session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)).one()
    assert (closed.outcome, closed.rule, closed.message_id) == (
        "unconfirmed",
        "smtp:reply_lost",
        "<m@x>",
    )


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
    ledger.decide("w1", [(batch.rows[0].id, Outcome.NOT_MEMBER, "membership")])
    assert ledger.finish_campaigns() == [running]
    with db.transaction() as session:
        assert session.get(Campaign, draft).status == "draft"  # type: ignore[union-attr]


def test_recent_sends_count_sent_and_in_flight_rows_only(db: Database) -> None:
    clock = Clock()
    contacts = ["a", "b", "c", "d", "e", "f", "g"]
    add_campaign(db, contacts)
    ledger = Ledger(db, clock)
    batch = ledger.claim("w1", 10, lease_seconds=300)
    assert batch is not None
    a, b, c, _, e, f, g = batch.rows
    ledger.mark_sending("w1", a.id, "<a@x>", 300)
    ledger.close_sent("w1", a.id, "consent:consent_given")
    ledger.mark_sending("w1", b.id, "<b@x>", 300)  # in flight
    ledger.decide("w1", [(c.id, Outcome.CAPPED, "pressure:global:1/1s")])
    ledger.mark_sending("w1", e.id, "<e@x>", 300)  # the relay's reply was lost
    ledger.close_unconfirmed("w1", e.id, "smtp:reply_lost")
    ledger.mark_sending("w1", f.id, "<f@x>", 300)  # the 5xx frees the slot
    ledger.decide("w1", [(f.id, Outcome.SMTP_FAILED, "smtp:550")])
    ledger.mark_sending("w1", g.id, "<g@x>", 300)  # its worker dies mid-send
    clock.now += timedelta(seconds=301)
    again = ledger.claim("w2", 10, lease_seconds=300)
    assert again is not None
    ledger.close_in_doubt("w2", [r for r in again.rows if r.contact_id == "g"])
    sends = ledger.recent_sends(contacts, clock.now - timedelta(hours=1))
    # Counted by the pressure rebuild: sent, in flight, and unconfirmed (it may have left).
    assert sorted(s.contact_id for s in sends) == ["a", "b", "e", "g"]
    assert all(s.at == clock.now - timedelta(seconds=301) for s in sends)
    assert ledger.recent_sends(["a", "b", "e", "g"], clock.now) == []
