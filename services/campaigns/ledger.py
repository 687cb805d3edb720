"""The delivery ledger: claim, close and count (campaign, contact) rows.

Every transition is a conditional UPDATE on the row's current state, so a
worker that lost its lease can never overwrite what another worker decided,
and a row that left `pending` is never claimed again.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.db import Database, UtcDateTime
from services.campaigns import metrics
from services.campaigns.lifecycle import CampaignStatus
from services.campaigns.models import Campaign, ContactAlias, Delivery
from services.campaigns.policy import (
    COUNTED_BY_PRESSURE,
    RULE_WORKER_LOST,
    MessageClass,
    Outcome,
)
from services.campaigns.pressure_policy import Counted, Message, campaign_key
from services.campaigns.validation import OverBudget

Clock = Callable[[], datetime]
_INSERT_CHUNK = 1000
# The rule of a recipient whose mail had not started leaving when its campaign was cancelled.
RULE_CANCELLED = "lifecycle:cancelled"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CampaignInfo:
    """What dispatch needs to know about the campaign of a batch."""

    id: str
    owner_component: str
    purpose: str
    subject_template: str
    body_template: str
    priority: int = 5
    deadline: datetime | None = None
    over_budget: OverBudget = OverBudget.DEFER
    html_body_template: str = ""  # "": no HTML part


def info_of(campaign: Campaign) -> CampaignInfo:
    """What dispatch (and a preview) needs to know of a campaign."""
    return _campaign_info(campaign)


@dataclass(frozen=True)
class ClaimedRow:
    id: int
    contact_id: str
    send_started_at: datetime | None
    message_id: str | None

    @property
    def in_doubt(self) -> bool:
        """A send started by a worker that never recorded its end."""
        return self.send_started_at is not None


@dataclass(frozen=True)
class Batch:
    campaign: CampaignInfo
    rows: tuple[ClaimedRow, ...]


@dataclass(frozen=True)
class TransactionalRow:
    """A transactional mail in the ledger: what it was for, who asked, how it ended."""

    id: int
    contact_id: str
    kind: str
    sender: str
    outcome: str
    rule: str | None
    message_id: str | None


@dataclass
class SendOutcomes:
    """How the sends of a group ended, written together in one commit.

    `retry` rows go back to pending, claimable after their delay, their send mark
    cleared; those with `refused` True count one more temporary refusal (attempts).
    """

    sent: list[tuple[int, str]] = field(default_factory=list)  # row id, rule
    failed: list[tuple[int, str]] = field(default_factory=list)  # smtp_failed, rule
    unconfirmed: list[tuple[int, str]] = field(default_factory=list)
    retry: list[tuple[int, float, bool]] = field(default_factory=list)  # id, delay s, refused

    def __bool__(self) -> bool:
        return bool(self.sent or self.failed or self.unconfirmed or self.retry)

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.unconfirmed) + len(self.retry)


def insert_pending(session: Session, campaign_id: str, contact_ids: Iterable[str]) -> None:
    """Adds pending rows; rows already there stay as they are (starting twice adds nothing).

    An id merged into another contact is listed as its survivor, once: one row, one
    mail and one pressure budget per person (services/campaigns/merges.py).
    """
    people = list(dict.fromkeys(survivors_of(session, list(contact_ids))))
    rows = [{"campaign_id": campaign_id, "contact_id": c, "outcome": "pending"} for c in people]
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert if postgres else sqlite.insert
    for start in range(0, len(rows), _INSERT_CHUNK):
        statement = insert(Delivery).on_conflict_do_nothing(
            index_elements=["campaign_id", "contact_id"]
        )
        session.execute(statement, rows[start : start + _INSERT_CHUNK])


def cancel_pending(session: Session, campaign_id: str, now: datetime) -> int:
    """Every pending or deferred row of the campaign not yet in flight becomes `cancelled`.

    One conditional UPDATE, in the caller's transaction (the one that marks the
    campaign cancelled): a row whose send has started (send_started_at set) is left
    to its worker, who closes it as usual; a worker still holding a row closed here
    loses it (its own updates need the row pending). Returns how many rows it closed.
    """
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.outcome.in_([Outcome.PENDING.value, Outcome.DEFERRED.value]),
            Delivery.send_started_at.is_(None),
        )
        .values(outcome=Outcome.CANCELLED.value, rule=RULE_CANCELLED, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def survivors_of(session: Session, contact_ids: list[str]) -> list[str]:
    """Each id, or the contact it was merged into, in order."""
    survivor: dict[str, str] = {}
    for start in range(0, len(contact_ids), _INSERT_CHUNK):
        chunk = contact_ids[start : start + _INSERT_CHUNK]
        rows = session.execute(
            select(ContactAlias.merged_id, ContactAlias.survivor_id).where(
                ContactAlias.merged_id.in_(chunk)
            )
        )
        survivor.update({merged: kept for merged, kept in rows})
    return [survivor.get(c, c) for c in contact_ids]


def outcome_counts(session: Session, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Recipients per outcome for each campaign, counted from the ledger."""
    counts: dict[str, dict[str, int]] = {c: {} for c in campaign_ids}
    if not campaign_ids:
        return counts
    query = (
        select(Delivery.campaign_id, Delivery.outcome, func.count())
        .where(Delivery.campaign_id.in_(campaign_ids))
        .group_by(Delivery.campaign_id, Delivery.outcome)
    )
    for campaign_id, outcome, count in session.execute(query):
        counts[str(campaign_id)][outcome] = int(count)
    return counts


class Ledger:
    """Claims and closes ledger rows on behalf of dispatch workers."""

    def __init__(self, db: Database, clock: Clock = utc_now):
        self._db = db
        self._clock = clock
        # SQLite has no SKIP LOCKED: one claimer at a time in this (single) process.
        self._claim_lock = threading.Lock() if not db.is_postgres else None
        self._stride = Stride()

    def claim(self, worker: str, size: int, lease_seconds: int) -> Batch | None:
        """Up to `size` due rows of one running campaign, now ours; None when none is due.

        Due: pending, or deferred until now, and no live lease. Campaigns share the
        workers by priority (stride scheduling): each claimed batch moves its
        campaign's pass forward by 1/priority and the lowest pass goes first, so a
        priority-10 campaign gets ten batches for each batch of a priority-1 one,
        and a campaign started later does not wait for the whole of an earlier one.

        Only campaigns with a due row are tried: a campaign whose recipients all wait
        (deferred for days) costs the pollers one index probe, not a claim attempt.
        """
        now = self._clock()
        due = exists().where(
            Delivery.campaign_id == Campaign.id,
            Delivery.outcome.in_([Outcome.PENDING.value, Outcome.DEFERRED.value]),
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until <= now),
        )
        with self._db.transaction() as session:
            running = session.execute(
                select(
                    Campaign.id,
                    Campaign.owner_component,
                    Campaign.purpose,
                    Campaign.subject_template,
                    Campaign.body_template,
                    Campaign.priority,
                    Campaign.deadline,
                    Campaign.over_budget,
                    Campaign.html_body_template,
                )
                .where(Campaign.status == CampaignStatus.RUNNING, due)
                .order_by(Campaign.started_at, Campaign.id)
            ).all()
        for campaign in self._stride.order([_campaign_info(c) for c in running]):
            rows = self._claim_rows(campaign.id, worker, size, lease_seconds)
            if rows:
                self._stride.advance(campaign)
                return Batch(campaign, rows)
        return None

    def _claim_rows(
        self, campaign_id: str, worker: str, size: int, lease_seconds: int
    ) -> tuple[ClaimedRow, ...]:
        now = self._clock()
        free = (
            select(Delivery.id)
            .where(
                Delivery.campaign_id == campaign_id,
                Delivery.outcome.in_([Outcome.PENDING.value, Outcome.DEFERRED.value]),
                or_(Delivery.claimed_until.is_(None), Delivery.claimed_until <= now),
            )
            .order_by(Delivery.id)
            .limit(size)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(Delivery)
            .where(Delivery.id.in_(free.scalar_subquery()))
            .values(
                outcome=Outcome.PENDING.value,
                claimed_by=worker,
                claimed_until=now + timedelta(seconds=lease_seconds),
            )
            .returning(
                Delivery.id, Delivery.contact_id, Delivery.send_started_at, Delivery.message_id
            )
            .execution_options(synchronize_session=False)
        )
        if self._claim_lock:
            self._claim_lock.acquire()
        try:
            with self._db.transaction() as session:
                found = session.execute(claim).all()
        finally:
            if self._claim_lock:
                self._claim_lock.release()
        return tuple(sorted((ClaimedRow(*row) for row in found), key=lambda r: r.id))

    def still_running(self, campaign_id: str) -> bool:
        """Whether the campaign is still running (not paused, cancelled or done)."""
        with self._db.transaction() as session:
            status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        return status == CampaignStatus.RUNNING

    def backlog(self) -> dict[str, int]:
        """Rows of running campaigns still waiting, by state (pending, deferred).

        Runs on each metrics scrape: it walks the running campaigns (status index) and
        their waiting rows (campaign and outcome index), never the whole ledger.
        """
        waiting = [Outcome.PENDING.value, Outcome.DEFERRED.value]
        query = (
            select(Delivery.outcome, func.count())
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Campaign.status == CampaignStatus.RUNNING.value, Delivery.outcome.in_(waiting))
            .group_by(Delivery.outcome)
        )
        with self._db.transaction() as session:
            return {str(outcome): int(count) for outcome, count in session.execute(query)}

    def decide(self, worker: str, decisions: Sequence[tuple[int, Outcome, str]]) -> None:
        """Closes rows that will not be mailed (membership, consent, address, pressure, 5xx)."""
        if not decisions:
            return
        now = self._clock()
        written: Counter[str] = Counter()
        with self._db.transaction() as session:
            for row_id, outcome, rule in decisions:
                result = session.execute(
                    self._mine(row_id, worker).values(
                        outcome=outcome,
                        rule=rule,
                        decided_at=now,
                        send_started_at=None,
                        message_id=None,
                    )
                )
                written[outcome] += _rows(result)
        metrics.count_decisions(written)

    def defer(self, worker: str, deferrals: Sequence[tuple[int, datetime, str]]) -> None:
        """Rows over the budget now: `deferred` until the time given, then claimable again.

        The row leaves its worker (no lease, no send started); the claim that takes it
        again, once due, makes it pending. The time stays readable as `deferred_until`.
        """
        if not deferrals:
            return
        now = self._clock()
        deferred = 0
        with self._db.transaction() as session:
            for row_id, until, rule in deferrals:
                deferred += _rows(
                    session.execute(
                        self._mine(row_id, worker).values(
                            outcome=Outcome.DEFERRED,
                            rule=rule,
                            decided_at=now,
                            deferred_until=until,
                            claimed_by=None,
                            claimed_until=until,
                            send_started_at=None,
                            message_id=None,
                        )
                    )
                )
        metrics.DEFERRALS.inc(deferred)

    def higher_priority_waiting(
        self, campaign: CampaignInfo, contact_ids: Sequence[str]
    ) -> dict[str, int]:
        """For each contact, how many running campaigns of higher priority still wait to mail it.

        The pressure reservation leaves them that many slots: when campaigns compete
        for a contact's last slot, the higher priority wins and the other is deferred.
        """
        if not contact_ids:
            return {}
        query = (
            select(Delivery.contact_id, func.count())
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Delivery.contact_id.in_(list(contact_ids)),
                Delivery.outcome.in_([Outcome.PENDING.value, Outcome.DEFERRED.value]),
                Delivery.send_started_at.is_(None),
                Campaign.status == "running",
                Campaign.priority > campaign.priority,
                Campaign.id != campaign.id,
            )
            .group_by(Delivery.contact_id)
        )
        with self._db.transaction() as session:
            return {str(contact): int(count) for contact, count in session.execute(query)}

    def mark_sending(
        self,
        worker: str,
        row_id: int,
        message_id: str,
        lease_seconds: int,
        close: tuple[int, str] | None = None,
    ) -> bool:
        """Records that the SMTP conversation for this row is about to start (committed).

        `close` (row id, rule) is the row of the mail the relay accepted just before:
        it is closed as sent in the same commit, so each mail costs one commit, not two.
        """
        now = self._clock()
        with self._db.transaction() as session:
            if close:
                session.execute(self._sent(worker, *close, now))
            result = session.execute(
                self._mine(row_id, worker)
                .where(Delivery.send_started_at.is_(None))
                .values(
                    send_started_at=now,
                    message_id=message_id,
                    claimed_until=now + timedelta(seconds=lease_seconds),
                )
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def close_sent(self, worker: str, row_id: int, rule: str) -> bool:
        """The relay accepted the mail: the row is sent, for good."""
        with self._db.transaction() as session:
            result = session.execute(self._sent(worker, row_id, rule, self._clock()))
        metrics.count_decisions({Outcome.SENT: _rows(result)})
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def _sent(self, worker: str, row_id: int, rule: str, now: datetime):  # type: ignore[no-untyped-def]
        return self._mine(row_id, worker).values(
            outcome=Outcome.SENT, rule=rule, decided_at=now, sent_at=now
        )

    def close_unconfirmed(self, worker: str, row_id: int, rule: str) -> bool:
        """The relay had the whole mail but its reply was lost: in doubt, never sent again.

        The row keeps its message id and send mark (the time the pressure rebuild
        counts); no `sent_at`, since nobody saw the mail accepted.
        """
        with self._db.transaction() as session:
            result = session.execute(self._unconfirmed(worker, row_id, rule, self._clock()))
        metrics.count_decisions({Outcome.UNCONFIRMED: _rows(result)})
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def close_in_doubt(self, worker: str, rows: Sequence[ClaimedRow]) -> None:
        """Rows whose send started but never ended (worker lost): unconfirmed, never resent."""
        now = self._clock()
        closed = 0
        with self._db.transaction() as session:
            for row in rows:
                closed += _rows(
                    session.execute(self._unconfirmed(worker, row.id, RULE_WORKER_LOST, now))
                )
        metrics.count_decisions({Outcome.UNCONFIRMED: closed})

    def _unconfirmed(self, worker: str, row_id: int, rule: str, now: datetime):  # type: ignore[no-untyped-def]
        return self._mine(row_id, worker).values(
            outcome=Outcome.UNCONFIRMED, rule=rule, decided_at=now
        )

    def release(self, worker: str, row_ids: Sequence[int], retry_after_seconds: int) -> None:
        """Gives rows back as pending, claimable again after the delay, with no send started."""
        if not row_ids:
            return
        retry_at = self._clock() + timedelta(seconds=retry_after_seconds)
        with self._db.transaction() as session:
            for row_id in row_ids:
                session.execute(
                    self._mine(row_id, worker).values(
                        claimed_until=retry_at, send_started_at=None, message_id=None
                    )
                )

    def mark_group(
        self,
        worker: str,
        marks: Sequence[tuple[int, str]],
        lease_seconds: int,
        close: SendOutcomes | None = None,
    ) -> dict[int, int]:
        """Records, in one commit, that the SMTP conversations of a group are about to start.

        `marks` are (row id, message id). `close` holds the outcomes of the group
        sent before, written in the same commit: one commit per group, not two.
        Returns {row id: temporary refusals so far} for each row marked; a row
        missing from it is no longer this worker's (lease lost): it must not be sent.
        """
        now = self._clock()
        written: Counter[str] = Counter()
        marked: Sequence[Any] = []
        with self._db.transaction() as session:
            if close:
                written = self._write_outcomes(session, worker, close, now)
            if marks:
                message_ids = dict(marks)
                marked = session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id.in_(list(message_ids)),
                        Delivery.outcome == Outcome.PENDING,
                        Delivery.claimed_by == worker,
                        Delivery.send_started_at.is_(None),
                    )
                    .values(
                        send_started_at=now,
                        message_id=case(message_ids, value=Delivery.id),
                        claimed_until=now + timedelta(seconds=lease_seconds),
                    )
                    .returning(Delivery.id, Delivery.attempts)
                    .execution_options(synchronize_session=False)
                ).all()
        metrics.count_decisions(written)  # after the commit, like every count of the ledger
        return {row_id: attempts for row_id, attempts in marked}

    def close_group(self, worker: str, outcomes: SendOutcomes) -> None:
        """Writes the outcomes of a group's sends in one commit (nothing when empty)."""
        if not outcomes:
            return
        with self._db.transaction() as session:
            written = self._write_outcomes(session, worker, outcomes, self._clock())
        metrics.count_decisions(written)

    def _write_outcomes(
        self, session: Session, worker: str, outcomes: SendOutcomes, now: datetime
    ) -> Counter[str]:
        """Writes the outcomes; the rows closed per outcome, to count once committed."""
        written: Counter[str] = Counter()
        # One statement per rule (a group has one or two), each row only while it is ours.
        for rule, ids in _by_rule(outcomes.sent).items():
            written[Outcome.SENT] += _rows(
                session.execute(
                    self._ours(ids, worker).values(
                        outcome=Outcome.SENT, rule=rule, decided_at=now, sent_at=now
                    )
                )
            )
        for rule, ids in _by_rule(outcomes.failed).items():
            written[Outcome.SMTP_FAILED] += _rows(
                session.execute(
                    self._ours(ids, worker).values(
                        outcome=Outcome.SMTP_FAILED,
                        rule=rule,
                        decided_at=now,
                        send_started_at=None,
                        message_id=None,
                    )
                )
            )
        for rule, ids in _by_rule(outcomes.unconfirmed).items():
            # The send mark stays: the time the pressure rebuild counts.
            written[Outcome.UNCONFIRMED] += _rows(
                session.execute(
                    self._ours(ids, worker).values(
                        outcome=Outcome.UNCONFIRMED, rule=rule, decided_at=now
                    )
                )
            )
        if outcomes.retry:
            waits = {
                row_id: literal(now + timedelta(seconds=delay), UtcDateTime())
                for row_id, delay, _ in outcomes.retry
            }
            refused = [row_id for row_id, _, counted in outcomes.retry if counted]
            session.execute(
                self._ours(list(waits), worker).values(
                    claimed_until=case(waits, value=Delivery.id),
                    send_started_at=None,
                    message_id=None,
                    attempts=case(
                        (Delivery.id.in_(refused), Delivery.attempts + 1),
                        else_=Delivery.attempts,
                    ),
                )
            )
        return written

    @staticmethod
    def _ours(row_ids: Sequence[int], worker: str):  # type: ignore[no-untyped-def]
        return (
            update(Delivery)
            .where(
                Delivery.id.in_(list(row_ids)),
                Delivery.outcome == Outcome.PENDING,
                Delivery.claimed_by == worker,
            )
            .execution_options(synchronize_session=False)
        )

    def finish_campaigns(self) -> list[str]:
        """Running campaigns with no pending or deferred row left become done; their ids.

        Also closes what a cancelled campaign left in flight when its worker died (no
        worker claims a cancelled campaign's rows): `unconfirmed`, never sent again.
        """
        now = self._clock()
        waiting = exists().where(
            Delivery.campaign_id == Campaign.id,
            Delivery.outcome.in_([Outcome.PENDING.value, Outcome.DEFERRED.value]),
        )
        running = CampaignStatus.RUNNING.value
        with self._db.transaction() as session:
            self._close_abandoned(session, now)
            # Read first: most polls find nothing, and then take no write lock.
            finished = session.scalars(
                select(Campaign.id).where(Campaign.status == running, ~waiting)
            ).all()
            if not finished:
                return []
            done = session.scalars(
                update(Campaign)
                .where(Campaign.id.in_(finished), Campaign.status == running, ~waiting)
                .values(status=CampaignStatus.DONE.value, finished_at=now)
                .returning(Campaign.id)
                .execution_options(synchronize_session=False)
            ).all()
        return list(done)

    @staticmethod
    def _close_abandoned(session: Session, now: datetime) -> None:
        abandoned = and_(
            Delivery.outcome == Outcome.PENDING.value,
            Delivery.send_started_at.is_not(None),
            Delivery.claimed_until < now,
            Delivery.campaign_id.in_(
                select(Campaign.id).where(Campaign.status == CampaignStatus.CANCELLED.value)
            ),
        )
        if session.scalar(select(Delivery.id).where(abandoned).limit(1)) is None:
            return
        result = session.execute(
            update(Delivery)
            .where(abandoned)
            .values(outcome=Outcome.UNCONFIRMED.value, rule=RULE_WORKER_LOST, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        # Counted before the commit of finish_campaigns: a rare failure there over-counts.
        metrics.count_decisions({Outcome.UNCONFIRMED: _rows(result)})

    def recent_sends(self, contact_ids: Sequence[str], since: datetime) -> list[Counted]:
        """Mails sent, unconfirmed, or whose send started, to these contacts since `since`.

        Any campaign: what the pressure rules count when Redis lost its counters.
        """
        at = func.coalesce(Delivery.sent_at, Delivery.send_started_at)
        with self._db.transaction() as session:
            # A merged id's sends count for its survivor (services/campaigns/merges.py).
            aliases = session.execute(
                select(ContactAlias.merged_id, ContactAlias.survivor_id).where(
                    ContactAlias.survivor_id.in_(list(contact_ids))
                )
            ).all()
        person = {**{m: s for m, s in aliases}, **{c: c for c in contact_ids}}
        query = (
            select(
                Delivery.campaign_id,
                Delivery.contact_id,
                at,
                Campaign.owner_component,
                Campaign.purpose,
            )
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Delivery.contact_id.in_(list(person)),
                # Transactional mail is exempt from the marketing-pressure budget.
                Delivery.message_class == MessageClass.MARKETING,
                or_(
                    Delivery.outcome.in_(sorted(COUNTED_BY_PRESSURE)),
                    and_(
                        Delivery.outcome == Outcome.PENDING, Delivery.send_started_at.is_not(None)
                    ),
                ),
                at >= since,
            )
        )
        with self._db.transaction() as session:
            found = session.execute(query).all()
        return [
            Counted(person[k], campaign_key(str(c)), Message(owner, purpose, "email"), _as_utc(t))
            for c, k, t, owner, purpose in found
        ]

    # --- Transactional rows: no campaign, one per idempotency key ------------------------

    def open_transactional(
        self, key: str, contact_id: str, kind: str, sender: str, worker: str, lease_seconds: int
    ) -> tuple[TransactionalRow, bool]:
        """The row of this idempotency key, and True when this call now holds it, to send.

        A new key gets a new pending row, held by `worker`. A known key is held again
        only when its row is pending, no send started and its holder's lease ended (that
        call failed before the relay had the mail); a row whose send started under a
        holder that is gone is closed `unconfirmed` (never sent again).
        """
        now = self._clock()
        until = now + timedelta(seconds=lease_seconds)
        with self._db.transaction() as session:
            created = session.execute(
                _insert(session)
                .values(
                    message_class=MessageClass.TRANSACTIONAL.value,
                    idempotency_key=key,
                    contact_id=contact_id,
                    kind=kind,
                    sender=sender,
                    outcome=Outcome.PENDING.value,
                    claimed_by=worker,
                    claimed_until=until,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(Delivery.id)
            ).first()
        if created is not None:
            return self.transactional(created[0]), True
        with self._db.transaction() as session:
            row = session.scalars(select(Delivery).where(Delivery.idempotency_key == key)).one()
            expired = row.claimed_until is None or row.claimed_until < now
            if row.outcome != Outcome.PENDING or not expired or row.claimed_by is None:
                return _transactional(row), False
            if row.send_started_at is not None:
                session.execute(
                    self._unconfirmed(row.claimed_by, row.id, RULE_WORKER_LOST, now).where(
                        Delivery.send_started_at.is_not(None)
                    )
                )
                taken = False
            else:
                taken = bool(
                    session.execute(
                        self._mine(row.id, row.claimed_by)
                        .where(Delivery.send_started_at.is_(None))
                        .values(claimed_by=worker, claimed_until=until)
                    ).rowcount  # type: ignore[attr-defined]
                )
        return self.transactional(row.id), taken

    def transactional(self, row_id: int) -> TransactionalRow:
        """One transactional row as it stands."""
        with self._db.transaction() as session:
            return _transactional(session.get_one(Delivery, row_id))

    @staticmethod
    def _mine(row_id: int, worker: str):  # type: ignore[no-untyped-def]
        # Only a pending row this worker still holds may change.
        return (
            update(Delivery)
            .where(
                Delivery.id == row_id,
                Delivery.outcome == Outcome.PENDING,
                Delivery.claimed_by == worker,
            )
            .execution_options(synchronize_session=False)
        )


class Stride:
    """Stride scheduling of running campaigns, by priority, within one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pass: dict[str, float] = {}

    def order(self, campaigns: list[CampaignInfo]) -> list[CampaignInfo]:
        """The campaigns, lowest pass first; a new one starts at the lowest pass there is."""
        with self._lock:
            known = [self._pass[c.id] for c in campaigns if c.id in self._pass]
            start = min(known, default=0.0)
            self._pass = {c.id: self._pass.get(c.id, start) for c in campaigns}
            return sorted(campaigns, key=lambda c: (self._pass[c.id], -c.priority))

    def advance(self, campaign: CampaignInfo) -> None:
        with self._lock:
            step = 1.0 / max(1, campaign.priority)
            self._pass[campaign.id] = self._pass.get(campaign.id, 0.0) + step


def _campaign_info(row: Any) -> CampaignInfo:
    return CampaignInfo(
        id=row.id,
        owner_component=row.owner_component,
        purpose=row.purpose,
        subject_template=row.subject_template,
        body_template=row.body_template,
        priority=row.priority,
        deadline=_as_utc(row.deadline) if row.deadline is not None else None,
        over_budget=OverBudget(row.over_budget),
        html_body_template=row.html_body_template or "",
    )


def _rows(result: Any) -> int:
    """Rows an UPDATE changed (0 when the row was no longer this worker's)."""
    return int(result.rowcount)


def _by_rule(rows: Sequence[tuple[int, str]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for row_id, rule in rows:
        grouped.setdefault(rule, []).append(row_id)
    return grouped


def _as_utc(value: datetime | str) -> datetime:
    # coalesce() loses the column type on SQLite, which then hands back raw text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _transactional(row: Delivery) -> TransactionalRow:
    return TransactionalRow(
        row.id,
        row.contact_id,
        row.kind or "",
        row.sender or "",
        row.outcome,
        row.rule,
        row.message_id,
    )


def _insert(session: Session) -> Any:
    return (postgresql.insert if _is_postgres(session) else sqlite.insert)(Delivery)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
