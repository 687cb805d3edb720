"""Arbitration between campaigns: deferral, deadline, priority, and the workers' time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from services.campaigns.bootstrap import Campaigns
from services.campaigns.models import Campaign
from tests.integration.campaigns.test_dispatch import (  # noqa: F401  (fixtures)
    SCIENCES,
    World,
    backend,
    smtp,
    world,
)
from tests.support.stores import redis_prefix

GROUPING_WEEK = "pressure:grouping:1/604800s"


def set_campaign(campaigns: Campaigns, campaign_id: str, **values: object) -> None:
    """Sets a campaign's priority, deadline or over_budget as a manager would."""
    if not values:
        return
    with campaigns.db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(**values))


def started(
    world: World,  # noqa: F811
    people: list[str],
    name: str,
    **values: object,
) -> str:
    """A campaign created as a draft, given its settings, then started."""
    from services.campaigns.validation import Audience, AudienceKind, Draft

    service = world.campaigns.service
    draft = Draft(
        name=name,
        purpose="newsletter",
        subject_template="Bonjour",
        body_template="Nouvelles",
        audience=Audience(AudienceKind.CONTACT_IDS, tuple(people)),
    )
    campaign_id = service.create(SCIENCES, draft).id
    set_campaign(world.campaigns, campaign_id, **values)
    service.send_now(SCIENCES, campaign_id)
    return campaign_id


def test_a_deferred_recipient_leaves_on_its_own_once_due(world: World) -> None:  # noqa: F811
    # Its own prefix and a 2 s window, so the slot frees during the test.
    fast = world.another_worker(pressure_window_seconds=2, redis_key_prefix=redis_prefix())
    try:
        person = world.person("sciences")
        first = started(world, [person], "first")
        second = started(world, [person], "second")
        while fast.dispatcher.run_once("w1"):
            pass
        row = world.ledger(second)[person]
        assert (row.outcome, row.rule) == ("deferred", "pressure:grouping:1/2s")
        sent_at = world.ledger(first)[person].sent_at
        assert sent_at is not None and row.deferred_until is not None
        assert timedelta(seconds=1.5) < row.deferred_until - sent_at < timedelta(seconds=3)
        for _ in range(100):  # due after about 2 s: claimed again, once
            fast.dispatcher.run_once("w1")
            if world.ledger(second)[person].outcome == "sent":
                break
            time.sleep(0.1)
        assert world.outcomes(second)[person][0] == "sent"
        assert len(world.sink.to(world.address(person))) == 2
        assert world.status(second) == "done"
    finally:
        fast.close()


def test_past_the_deadline_a_recipient_expires_instead(world: World) -> None:  # noqa: F811
    person = world.person("sciences")
    started(world, [person], "first")
    world.drain()
    soon = datetime.now(UTC) + timedelta(hours=1)  # the slot frees in a week
    late = started(world, [person], "late", deadline=soon)
    world.drain()
    assert world.outcomes(late)[person] == ("expired", GROUPING_WEEK)
    assert world.status(late) == "done"
    gone = started(world, [person], "gone", deadline=datetime.now(UTC) - timedelta(seconds=1))
    world.drain()
    assert world.outcomes(gone)[person] == ("expired", "deadline")


def test_a_campaign_that_drops_over_budget_recipients_caps_them(world: World) -> None:  # noqa: F811
    person = world.person("sciences")
    started(world, [person], "first")
    world.drain()
    dropped = started(world, [person], "dropped", over_budget="drop")
    world.drain()
    assert world.outcomes(dropped)[person] == ("capped", GROUPING_WEEK)
    assert world.status(dropped) == "done"


def test_the_higher_priority_wins_the_last_slot(world: World) -> None:  # noqa: F811
    person, other = world.person("sciences"), world.person("sciences")
    low = started(world, [person, other], "low", priority=1)
    high = started(world, [person], "high", priority=9)
    # Let the low-priority campaign's batch be checked first: the contact's last slot
    # is still left to the higher priority waiting for it.
    ledger = world.campaigns.dispatcher._ledger  # noqa: SLF001
    rows = ledger._claim_rows(low, "w1", 10, 60)  # noqa: SLF001
    (info,) = [c for c in ledger._stride.order(running(world)) if c.id == low]  # noqa: SLF001
    sendable = world.campaigns.dispatcher._gate.admit("w1", info, list(rows))  # noqa: SLF001
    assert [s.recipient.contact_id for s in sendable] == [other]
    world.campaigns.dispatcher._gate.release(info, [other])  # noqa: SLF001
    ledger.release("w1", [s.row.id for s in sendable], 0)
    world.drain()
    assert world.outcomes(high)[person][0] == "sent"
    assert world.outcomes(low)[person] == ("deferred", GROUPING_WEEK)
    assert world.outcomes(low)[other][0] == "sent"
    assert len(world.sink.to(world.address(person))) == 1


def running(world: World) -> list:  # type: ignore[type-arg]  # noqa: F811
    from services.campaigns.ledger import info_of

    with world.campaigns.db.transaction() as session:
        return [info_of(c) for c in session.query(Campaign).filter(Campaign.status == "running")]


def test_workers_share_their_time_by_priority(world: World) -> None:  # noqa: F811
    small = world.another_worker(batch_size=5)
    try:
        early = [world.person("sciences") for _ in range(30)]
        later = [world.person("sciences") for _ in range(30)]
        low = started(world, early, "early, not urgent", priority=1)
        high = started(world, later, "later, urgent", priority=10)
        while world.outcomes(high) and any(
            o == "pending" for o, _ in world.outcomes(high).values()
        ):
            assert small.dispatcher.run_once("w1")
        low_sent = [o for o, _ in world.outcomes(low).values() if o == "sent"]
        # The urgent campaign did not wait for the whole earlier one: at most two of the
        # earlier campaign's batches (10 mails) left before the urgent one was done.
        assert len(low_sent) <= 10
        world.drain()
        assert {o for o, _ in world.outcomes(low).values()} == {"sent"}
    finally:
        small.close()
