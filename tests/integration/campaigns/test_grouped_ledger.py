"""The ledger written by groups of k: one commit of marks per group, a worker that dies at any
point leaves at most k recipients in doubt (never resent), and a pause between groups gives
the rest back at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from meshkit.db import Database
from services.campaigns.gate import Sendable
from services.campaigns.ledger import CampaignInfo, Ledger, SendOutcomes
from tests.support.dispatch_rig import Rig
from tests.support.fault_relay import FaultRelay, fault_relay

K = 5


class Killed(BaseException):
    """The worker's process is gone: nothing after this point runs (not even `finally` writes)."""


class DyingLedger(Ledger):
    """A worker's ledger that dies at its `die_at`-th group commit, and writes nothing after."""

    def __init__(self, *args: Any, die_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.die_at = die_at
        self.marks: list[int] = []  # rows per mark_group call
        self.closes = 0
        self.dead = False

    def mark_group(
        self,
        worker: str,
        marks: Sequence[tuple[int, str]],
        lease_seconds: int,
        close: SendOutcomes | None = None,
    ) -> dict[int, int]:
        self._alive()
        if len(self.marks) + 1 == self.die_at:
            self.dead = True
            raise Killed()
        self.marks.append(len(marks))
        return super().mark_group(worker, marks, lease_seconds, close)

    def close_group(self, worker: str, outcomes: SendOutcomes) -> None:
        self._alive()
        self.closes += 1
        super().close_group(worker, outcomes)

    def release(self, worker: str, row_ids: Sequence[int], retry_after_seconds: int) -> None:
        self._alive()
        super().release(worker, row_ids, retry_after_seconds)

    def _alive(self) -> None:
        if self.dead:
            raise Killed()


@pytest.fixture
def relay() -> Iterator[FaultRelay]:
    with fault_relay() as running:
        yield running


@pytest.fixture
def rig(db: Database, redis_client: Any, prefix: str, relay: FaultRelay) -> Iterator[Rig]:
    made = Rig(db, redis_client, prefix, relay, pressure_max=5)
    yield made
    made.close()


def test_a_batch_is_marked_by_groups_of_k_and_closed_once(rig: Rig, relay: FaultRelay) -> None:
    spy = DyingLedger(rig.db, rig.clock, die_at=0)
    dispatcher = rig.dispatcher(ledger=spy, batch_size=23, group_size=K)
    campaign, people = rig.campaign(23)

    assert dispatcher.run_once("w1") == 23
    # Five commits of marks (the outcomes of each group ride on the next), one for the last.
    assert spy.marks == [5, 5, 5, 5, 3]
    assert spy.closes == 1
    assert all(r.outcome == "sent" for r in rig.rows(campaign).values())
    assert all(relay.delivered[a] == 1 for a in people.values())


@pytest.mark.parametrize(
    ("die_at", "in_doubt"),
    [
        (1, 0),  # before the first group's marks: nothing started
        (2, K),  # after the first group was sent, before its outcomes were written
        (4, K),  # the same, later in the batch
    ],
)
def test_a_worker_dying_between_groups_leaves_at_most_k_in_doubt(
    rig: Rig, relay: FaultRelay, die_at: int, in_doubt: int
) -> None:
    doomed_ledger = DyingLedger(rig.db, rig.clock, die_at=die_at)
    doomed = rig.dispatcher(ledger=doomed_ledger, batch_size=30, group_size=K)
    campaign, people = rig.campaign(30)

    with pytest.raises(Killed):
        doomed.run_once("doomed")
    sent_before = sum(relay.delivered.values())
    assert sent_before == (die_at - 1) * K  # the groups it had sent

    rig.clock.advance(301)  # the dead worker's lease ends
    rig.drain(rig.dispatcher(), "survivor")
    rows = rig.rows(campaign)
    unconfirmed = [c for c, r in rows.items() if r.outcome == "unconfirmed"]
    assert len(unconfirmed) == in_doubt <= K
    assert all(rows[c].rule == "smtp:worker_lost" for c in unconfirmed)
    assert all(r.outcome in ("sent", "unconfirmed") for r in rows.values())  # none pending
    for contact, address in people.items():
        # Never twice; never lost: each in-doubt mail did leave once, before the death.
        assert relay.delivered[address] == 1, contact


def test_a_worker_dying_after_the_marks_before_any_send_leaves_k_in_doubt(
    rig: Rig, relay: FaultRelay
) -> None:
    doomed = rig.dispatcher(batch_size=12, group_size=K)
    gate = doomed._gate  # noqa: SLF001
    real_recheck = gate.recheck
    calls = 0

    def recheck_or_die(worker: str, campaign: CampaignInfo, items: list[Sendable]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Killed()  # the second group's marks are durable; none of it left
        return real_recheck(worker, campaign, items)

    gate.recheck = recheck_or_die  # type: ignore[method-assign]
    campaign, people = rig.campaign(12)
    with pytest.raises(Killed):
        doomed.run_once("doomed")

    rig.clock.advance(301)
    rig.drain(rig.dispatcher(), "survivor")
    rows = rig.rows(campaign)
    unconfirmed = [c for c, r in rows.items() if r.outcome == "unconfirmed"]
    # In doubt but never sent: counted against pressure, never retried, never twice.
    assert len(unconfirmed) == K
    assert all(relay.delivered[people[c]] == 0 for c in unconfirmed)
    assert all(relay.delivered[people[c]] == 1 for c in people if c not in unconfirmed)
    assert all(r.outcome in ("sent", "unconfirmed") for r in rows.values())


def test_a_pause_between_groups_gives_the_rest_back_at_once(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher(batch_size=40, group_size=K)
    campaign, people = rig.campaign(40)

    def pause_at_the_third(address: str) -> None:
        if sum(relay.delivered.values()) == 3:
            rig.set_status(campaign, "paused")  # a manager pauses mid-group

    relay.on_delivered = pause_at_the_third
    assert dispatcher.run_once("w1") == 40
    relay.on_delivered = None

    rows = rig.rows(campaign)
    sent = [c for c, r in rows.items() if r.outcome == "sent"]
    assert len(sent) == K  # the group in hand ends; no other starts
    waiting = [r for r in rows.values() if r.outcome == "pending"]
    assert len(waiting) == 40 - K
    now = rig.clock()
    assert all(
        r.send_started_at is None and r.attempts == 0 and r.claimed_until <= now  # type: ignore[operator]
        for r in waiting
    )
    assert not any(rig.holds_slot(campaign, r.contact_id) for r in waiting)
    assert dispatcher.run_once("w1") == 0  # paused: nothing is claimed

    rig.set_status(campaign, "running")
    rig.clock.advance(0.001)  # claimable once their (zero) wait is over
    rig.drain(dispatcher)
    assert all(r.outcome == "sent" for r in rig.rows(campaign).values())
    assert all(relay.delivered[a] == 1 for a in people.values())
