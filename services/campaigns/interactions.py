"""Use cases of the interaction history: record an interaction, read a contact's history.

The history of a contact is the ledger's mailings to it (sent, or in doubt:
`unconfirmed`) merged with the interactions recorded for it, newest first, one
keyset-paginated list over both tables (interactions_policy.py says who sees
what). A merged contact's history includes the ids merged into it; asking for
a merged id reads its survivor's history. Membership comes from contacts
(`ExistingContacts`, the member components of the contact, or of its
survivor), asked once per call.

Recording writes one row, once per (component, idempotency key); once it is
committed, `on_recorded` tells whoever counts pressure (a channel rule counts
interactions), and `counted_since` gives the same messages back from the
database when the counters must be rebuilt.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.db import Database
from meshkit.errors import FailedPrecondition, NotFound, Violations
from meshkit.identity import Principal
from services.campaigns.clients import MemberDirectory
from services.campaigns.interactions_policy import (
    MAX_CONTACT_ID,
    NUL,
    Entry,
    EntryKind,
    NewInteraction,
    Position,
    Reader,
    check_period,
    decode_token,
    encode_token,
    may_read,
    newest_first,
    page_size,
    reader_of,
    recorder_of,
    same_request,
    validated_interaction,
    visible,
)
from services.campaigns.ledger import Clock, survivors_of, utc_now
from services.campaigns.models import Campaign, ContactAlias, Delivery, InteractionRow
from services.campaigns.policy import MessageClass, Outcome
from services.campaigns.pressure_policy import Counted, Message
from services.campaigns.repository import person_ids

log = logging.getLogger(__name__)

# The ledger rows a history shows: a mail the relay took, or one whose send started.
SHOWN_OUTCOMES = (Outcome.SENT.value, Outcome.UNCONFIRMED.value)
MAILING_CHANNEL = "email"
# (contact id, member key "i:<id>", message, when): count this interaction now.
OnRecorded = Callable[[str, str, Message, datetime], None]


def _no_op(_contact_id: str, _key: str, _message: Message, _at: datetime) -> None:
    return None


@dataclass(frozen=True)
class Recorded:
    """The interaction as stored, and whether this call only repeated a known key."""

    entry: Entry
    replayed: bool


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Entry]
    next_page_token: str


class Interactions:
    """The RecordInteraction and ListInteractions use cases, and the pressure rebuild's reader."""

    def __init__(
        self,
        db: Database,
        directory: MemberDirectory,
        clock: Clock = utc_now,
        on_recorded: OnRecorded = _no_op,
    ):
        self._db = db
        self._directory = directory
        self._clock = clock
        self._on_recorded = on_recorded

    def record(self, principal: Principal, new: NewInteraction) -> Recorded:
        """Writes the interaction once per idempotency key; a repeat returns the first one."""
        recorder = recorder_of(principal, new.component_id)
        time_given = new.occurred_at is not None
        new = validated_interaction(new, recorder, self._clock())
        members = self._directory.members([new.contact_id])
        if recorder.component not in members.get(new.contact_id, frozenset()):
            raise NotFound("contact not found")
        assert new.occurred_at is not None  # validated_interaction sets it
        with self._db.transaction() as session:
            (person,) = survivors_of(session, [new.contact_id])
            values = {
                "id": str(uuid.uuid4()),
                "contact_id": person,
                "component": recorder.component,
                "channel": new.channel,
                "purpose": new.purpose or None,
                "occurred_at": new.occurred_at,
                "recorded_at": self._clock(),
                "recorded_by": recorder.subject,
                "subject": new.subject or None,
                "content": new.content or None,
                "source": recorder.source,
                "idempotency_key": new.idempotency_key or None,
            }
            statement = _insert(session).values(**values)
            if new.idempotency_key:
                statement = statement.on_conflict_do_nothing(
                    index_elements=["component", "idempotency_key"]
                )
            created = session.execute(statement.returning(InteractionRow.id)).first()
            if created is None:  # the key is known: the first record stands
                row = session.scalars(
                    select(InteractionRow).where(
                        InteractionRow.component == recorder.component,
                        InteractionRow.idempotency_key == new.idempotency_key,
                    )
                ).one()
                first = _interaction_entry(row)
                asked = replace(new, contact_id=person)
                if not same_request(asked, first, time_given):
                    raise FailedPrecondition(
                        "idempotency_key: already used for another interaction"
                    )
                return Recorded(first, replayed=True)
            entry = _interaction_entry(session.get_one(InteractionRow, created[0]))
        self._tell(entry)
        return Recorded(entry, replayed=False)

    def _tell(self, entry: Entry) -> None:
        message = Message(entry.component, entry.purpose, entry.channel)
        try:
            self._on_recorded(entry.contact_id, entry.id, message, entry.at)
        except Exception as error:  # the row stands; a counter rebuild reads it back
            log.warning("interaction recorded, but not counted now: %s", type(error).__name__)

    def history(
        self,
        principal: Principal,
        contact_id: str,
        since: datetime | None,
        until: datetime | None,
        size: int,
        page_token: str,
    ) -> HistoryPage:
        """One page of the contact's history, newest first, as the caller may see it."""
        reader = reader_of(principal)
        _check_contact_id(contact_id)
        check_period(since, until)
        limit = page_size(size)
        after = decode_token(page_token, contact_id)
        members = self._directory.members([contact_id])
        if contact_id not in members or not may_read(reader, members[contact_id]):
            raise NotFound("contact not found")
        with self._db.transaction() as session:
            (person,) = survivors_of(session, [contact_id])
            ids = person_ids(session, person)
            mailings = _mailings(session, ids, since, until, after, limit + 1)
            interactions = _interactions(session, ids, since, until, after, limit + 1)
        entries, position = newest_first([mailings, interactions], limit)
        token = encode_token(contact_id, position) if position else ""
        return HistoryPage([visible(e, reader) for e in entries], token)

    def counted_since(self, contact_ids: Sequence[str], since: datetime) -> list[Counted]:
        """Interactions with these contacts since `since`, as pressure counts them.

        (contact id, "i:<id>", message, occurred_at); an id merged into one of
        `contact_ids` counts for it.
        """
        wanted = list(dict.fromkeys(contact_ids))
        if not wanted:
            return []
        with self._db.transaction() as session:
            aliases = session.execute(
                select(ContactAlias.merged_id, ContactAlias.survivor_id).where(
                    ContactAlias.survivor_id.in_(wanted)
                )
            ).all()
            person = {**{m: s for m, s in aliases}, **{c: c for c in wanted}}
            rows = session.execute(
                select(
                    InteractionRow.id,
                    InteractionRow.contact_id,
                    InteractionRow.component,
                    InteractionRow.purpose,
                    InteractionRow.channel,
                    InteractionRow.occurred_at,
                )
                .where(
                    InteractionRow.contact_id.in_(list(person)),
                    InteractionRow.occurred_at >= since,
                )
                .order_by(InteractionRow.occurred_at, InteractionRow.id)
            ).all()
        return [
            Counted(
                person[contact],
                f"i:{row_id}",
                Message(component, purpose or "", channel),
                _as_utc(at),
            )
            for row_id, contact, component, purpose, channel, at in rows
        ]


# --- Privacy requests (services/campaigns/privacy.py) ------------------------------------------


@dataclass(frozen=True)
class InteractionRecord:
    """One stored interaction, every column: what an access request hands over."""

    id: str
    contact_id: str
    component: str
    channel: str
    purpose: str | None
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    subject: str | None
    content: str | None
    source: str
    idempotency_key: str | None


def interactions_of(session: Session, ids: Sequence[str]) -> list[InteractionRecord]:
    """Every interaction naming one of `ids`, oldest first."""
    rows = session.scalars(
        select(InteractionRow)
        .where(InteractionRow.contact_id.in_(list(ids)))
        .order_by(InteractionRow.occurred_at, InteractionRow.id)
    ).all()
    return [
        InteractionRecord(
            r.id,
            r.contact_id,
            r.component,
            r.channel,
            r.purpose,
            r.occurred_at,
            r.recorded_at,
            r.recorded_by,
            r.subject,
            r.content,
            r.source,
            r.idempotency_key,
        )
        for r in rows
    ]


def delete_interactions(session: Session, ids: Sequence[str]) -> int:
    """Deletes every interaction naming one of `ids` (they say nothing once nobody is named)."""
    result = session.execute(delete(InteractionRow).where(InteractionRow.contact_id.in_(list(ids))))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- Reading both sources, newest first ----------------------------------------------------------


def _mailings(
    session: Session,
    ids: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    after: Position | None,
    limit: int,
) -> list[Entry]:
    at = func.coalesce(Delivery.sent_at, Delivery.send_started_at)
    query = (
        select(
            Delivery.id,
            Delivery.contact_id,
            Delivery.message_class,
            Delivery.kind,
            Delivery.sender,
            Delivery.outcome,
            at.label("at"),
            Campaign.id.label("campaign_id"),
            Campaign.name,
            Campaign.owner_component,
            Campaign.purpose,
            Campaign.subject_template,
        )
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.contact_id.in_(list(ids)),
            Delivery.outcome.in_(SHOWN_OUTCOMES),
            at.is_not(None),
        )
        .order_by(at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(at >= since)
    if until is not None:
        query = query.where(at < until)
    if after is not None:
        kind, _, value = after.id.partition(":")
        if kind == "d":  # same instant: the lower ledger ids come next
            query = query.where(or_(at < after.at, and_(at == after.at, Delivery.id < int(value))))
        else:  # at one instant every mailing comes after the interactions
            query = query.where(at <= after.at)
    return [_mailing_entry(row) for row in session.execute(query)]


def _interactions(
    session: Session,
    ids: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    after: Position | None,
    limit: int,
) -> list[Entry]:
    at = InteractionRow.occurred_at
    query = (
        select(InteractionRow)
        .where(InteractionRow.contact_id.in_(list(ids)))
        .order_by(at.desc(), InteractionRow.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(at >= since)
    if until is not None:
        query = query.where(at < until)
    if after is not None:
        kind, _, value = after.id.partition(":")
        if kind == "i":
            query = query.where(or_(at < after.at, and_(at == after.at, InteractionRow.id < value)))
        else:  # a mailing ended the page: interactions of its instant came before it
            query = query.where(at < after.at)
    return [_interaction_entry(row) for row in session.scalars(query)]


def _mailing_entry(row: Any) -> Entry:
    marketing = row.message_class == MessageClass.MARKETING
    component = (row.owner_component if marketing else row.sender) or ""
    return Entry(
        kind=EntryKind.MAILING,
        id=f"d:{row.id}",
        contact_id=row.contact_id,
        at=_as_utc(row.at),
        component=component,
        channel=MAILING_CHANNEL,
        purpose=row.purpose or "",
        campaign_id=row.campaign_id or "",
        campaign_name=row.name or "",
        message_class=row.message_class,
        transactional_kind=row.kind or "",
        outcome=row.outcome,
        subject=(row.subject_template or "") if marketing else "",
        # A transactional sender is a subject, not a component: its mail has no owner
        # among the members (and the ledger keeps no subject or body of it anyway).
        author=component if marketing else "",
    )


def _interaction_entry(row: InteractionRow) -> Entry:
    return Entry(
        kind=EntryKind.INTERACTION,
        id=f"i:{row.id}",
        contact_id=row.contact_id,
        at=_as_utc(row.occurred_at),
        component=row.component,
        channel=row.channel,
        purpose=row.purpose or "",
        source=row.source,
        recorded_by=row.recorded_by,
        recorded_at=_as_utc(row.recorded_at),
        subject=row.subject or "",
        content=row.content or "",
        author=row.component,
    )


def _check_contact_id(contact_id: str) -> None:
    problems = Violations()
    if not contact_id or len(contact_id) > MAX_CONTACT_ID or NUL in contact_id:
        problems.add("contact_id", f"must be 1 to {MAX_CONTACT_ID} characters, without NUL")
    problems.raise_if_any()


def _as_utc(value: datetime | str) -> datetime:
    # coalesce() loses the column type on SQLite, which then hands back raw text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(InteractionRow)
    return sqlite.insert(InteractionRow)


__all__ = [
    "HistoryPage",
    "InteractionRecord",
    "Interactions",
    "Reader",
    "Recorded",
    "delete_interactions",
    "interactions_of",
]
