"""Merged contacts: contacts tells campaigns that two records are one person.

After a merge, the survivor's pressure counts the merged id's past sends (the
ledger rows stay as written; `Ledger.recent_sends` reads them through the alias
when it rebuilds, and the merge drops the survivor's rebuilt marker so the next
check rebuilds), and a campaign that lists both ids mails the person at most
once: the row of the id not yet mailed is closed `duplicate` (rule
`merged_duplicate`) when the other one is sent, in flight or still pending. The
pressure dashboard's months that counted either id are marked for a recompute.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.db import Database
from meshkit.errors import Unavailable, Violations
from meshkit.identity import Principal
from services.campaigns.models import ContactAlias, Delivery
from services.campaigns.policy import MessageClass, Outcome
from services.campaigns.pressure import PressureCounters
from services.campaigns.pressure_rollup import mark_dirty, months_of_person

log = logging.getLogger(__name__)

RULE_MERGED = "merged_duplicate"
MAX_ID = 64


class ContactMerges:
    """The MergeContacts use case: alias, duplicate rows closed, counters rebuilt."""

    def __init__(self, db: Database, pressure: PressureCounters | None):
        self._db = db
        self._pressure = pressure

    def merge(self, principal: Principal, survivor_id: str, merged_id: str) -> None:
        principal.require_service()
        problems = Violations()
        for name, value in (("survivor_id", survivor_id), ("merged_id", merged_id)):
            if not value or len(value) > MAX_ID:
                problems.add(name, "is required (at most 64 characters)")
        if survivor_id and survivor_id == merged_id:
            problems.add("merged_id", "is the survivor itself")
        problems.raise_if_any()
        with self._db.transaction() as session:
            session.execute(
                update(ContactAlias)
                .where(ContactAlias.survivor_id == merged_id)
                .values(survivor_id=survivor_id)
            )
            session.execute(
                _insert(session)
                .values(merged_id=merged_id, survivor_id=survivor_id, merged_at=datetime.now(UTC))
                .on_conflict_do_nothing(index_elements=["merged_id"])
            )
            closed = _close_duplicates(session, survivor_id, merged_id)
            # The dashboard's months counted them as two people: recompute them as one.
            mark_dirty(session, months_of_person(session, [survivor_id, merged_id]))
        if closed:
            log.info("merge: %d duplicate deliveries closed", closed)
        if self._pressure is not None:
            try:  # the next check rebuilds the survivor's counters, merged sends included
                self._pressure.forget([survivor_id, merged_id])
            except RedisError:
                raise Unavailable("the pressure counters could not be reset; retry") from None


def _close_duplicates(session: Session, survivor_id: str, merged_id: str) -> int:
    """In each campaign listing both ids, closes the row not started when the other stands."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.campaign_id,
            Delivery.contact_id,
            Delivery.outcome,
            Delivery.send_started_at,
        )
        .where(
            Delivery.contact_id.in_([survivor_id, merged_id]),
            Delivery.message_class == MessageClass.MARKETING,
        )
        .with_for_update()
    ).all()
    by_campaign: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_campaign.setdefault(row.campaign_id, {})[row.contact_id] = row
    closing: list[int] = []
    for pair in by_campaign.values():
        if len(pair) < 2:
            continue
        merged, survivor = pair[merged_id], pair[survivor_id]
        if _untouched(merged):
            closing.append(merged.id)  # the survivor's row stands for the person
        elif _untouched(survivor):
            closing.append(survivor.id)  # the merged id was mailed already
    if closing:
        session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(closing),
                Delivery.outcome == Outcome.PENDING,
                Delivery.send_started_at.is_(None),
            )
            .values(
                outcome=Outcome.DUPLICATE.value,
                rule=RULE_MERGED,
                decided_at=datetime.now(UTC),
                claimed_by=None,
                claimed_until=None,
            )
            .execution_options(synchronize_session=False)
        )
    return len(closing)


def _untouched(row: Any) -> bool:
    return bool(row.outcome == Outcome.PENDING and row.send_started_at is None)


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(ContactAlias)
    return sqlite.insert(ContactAlias)
