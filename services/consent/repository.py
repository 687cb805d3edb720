"""The SQL of the consent service: events, the purposes catalogue, basis rules and notices.

Each function works inside the caller's session, so a use case stays one
transaction.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.identity import Principal
from services.consent.domain import (
    BasisRule,
    BatchEvent,
    Channel,
    ConsentEvent,
    EventKind,
    Language,
    LegalBasis,
    Notice,
    Purpose,
    Question,
    Scope,
)
from services.consent.domain import (
    Collection as Collected,
)
from services.consent.models import (
    BasisRuleRow,
    ConsentEventRow,
    ContactAliasRow,
    NoticeRow,
    OutboxRow,
    PrivacyAuditRow,
    PrivacyRequestRow,
    PrivacyStepRow,
    PurposeRow,
    SuppressionRow,
    channels_text,
    event_of,
    notice_of,
    purpose_of,
    rule_of,
)
from services.consent.outbox import Entry, OutboxKind
from services.consent.privacy_policy import (
    UNFINISHED,
    AuditEntry,
    Kind,
    Part,
    PrivacyRequest,
    Rectification,
    Status,
    Step,
    StepStatus,
    contact_digest,
)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended (the actor comes from the verified caller)."""

    contact_id: str
    kind: EventKind
    channel: Channel | None
    purpose: str | None
    scope: Scope
    collection: Collected
    legal_basis: LegalBasis | None = None
    text_shown: str | None = None
    notice_id: str | None = None
    pending: bool = False
    refers_to: str | None = None


def append(
    session: Session,
    principal: Principal,
    new: NewEvent,
    recorded_at: datetime,
    repeat_key: str | None = None,
) -> ConsentEvent | None:
    """Appends one event; None when an event with this repeat key is already there.

    The unique key lets the database pick one of two concurrent identical
    withdrawals or objections: the other's insert does nothing.
    """
    # The actor is always the verified caller, never something the request claims.
    values = {
        "id": str(uuid.uuid4()),
        "contact_id": new.contact_id,
        "kind": new.kind.value,
        "channel": new.channel.value if new.channel else None,
        "purpose": new.purpose,
        "scope_kind": new.scope.kind,
        "scope_component": new.scope.component,
        "legal_basis": new.legal_basis.value if new.legal_basis else None,
        "pending": new.pending,
        "refers_to": new.refers_to,
        "notice_id": new.notice_id,
        "actor_subject": principal.subject,
        "actor_component": principal.component,
        "how": new.collection.how.value,
        "source": new.collection.source,
        "ip": new.collection.ip,
        "user_agent": new.collection.user_agent,
        "text_shown": new.text_shown,
        "recorded_at": recorded_at.astimezone(UTC),
        "withdrawal_key": repeat_key,
    }
    statement = (
        _insert(session, ConsentEventRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["withdrawal_key"])
        .returning(ConsentEventRow)
    )
    row = session.scalars(statement).first()
    return event_of(row) if row is not None else None


def by_repeat_key(session: Session, key: str) -> ConsentEvent:
    """The withdrawal or objection recorded under this key (it exists: its insert won)."""
    row = session.scalars(
        select(ConsentEventRow).where(ConsentEventRow.withdrawal_key == key)
    ).one()
    return event_of(row)


def event(session: Session, event_id: str) -> ConsentEvent | None:
    """One event by id."""
    row = session.scalars(select(ConsentEventRow).where(ConsentEventRow.id == event_id)).first()
    return event_of(row) if row is not None else None


def confirmation_of(session: Session, grant_id: str) -> ConsentEvent | None:
    """The confirmation recorded for a pending grant, if any."""
    row = session.scalars(
        select(ConsentEventRow)
        .where(ConsentEventRow.refers_to == grant_id, ConsentEventRow.kind == "confirmed")
        .order_by(ConsentEventRow.seq)
    ).first()
    return event_of(row) if row is not None else None


def stream(session: Session, contact_id: str, channel: Channel, purpose: str) -> list[ConsentEvent]:
    """Every event of one contact x channel x purpose, all scopes, by seq."""
    rows = session.scalars(
        select(ConsentEventRow)
        .where(
            ConsentEventRow.contact_id == contact_id,
            ConsentEventRow.channel == channel.value,
            ConsentEventRow.purpose == purpose,
        )
        .order_by(ConsentEventRow.seq)
    )
    return [event_of(row) for row in rows]


def history(session: Session, contact_ids: Collection[str]) -> list[ConsentEvent]:
    """Every event of these contacts (the ids of one person), by seq."""
    rows = session.scalars(
        select(ConsentEventRow)
        .where(ConsentEventRow.contact_id.in_(list(set(contact_ids))))
        .order_by(ConsentEventRow.seq)
    )
    return [event_of(row) for row in rows]


def batch(session: Session, contact_ids: Collection[str], question: Question) -> list[BatchEvent]:
    """The events of many contacts that may bear on one question, as tuples of what a
    verdict reads: one query, an index probe on (contact_id, channel, purpose) per id.

    It keeps at least every event policy.bears_on keeps (the events of that purpose
    and channel for the grouping or the question's component, and for a marketing
    purpose the objections on that channel or every channel); the policy still filters.
    """
    row = ConsentEventRow
    columns = (
        row.seq,
        row.id,
        row.contact_id,
        row.kind,
        row.channel,
        row.purpose,
        row.scope_component,
        row.legal_basis,
        row.pending,
        row.refers_to,
    )
    asked = row.contact_id.in_(values_of(session, contact_ids))
    statement: Any = select(*columns).where(
        asked,
        row.channel == question.channel.value,
        row.purpose == question.purpose,
        or_(row.scope_component.is_(None), row.scope_component == question.component),
    )
    if question.marketing:
        # An objection is the only event without a purpose: purpose IS NULL keeps the probe
        # on the index.
        objections = select(*columns).where(
            asked,
            row.purpose.is_(None),
            row.kind == EventKind.OBJECTED.value,
            or_(row.channel.is_(None), row.channel == question.channel.value),
        )
        statement = union_all(statement, objections)
    scopes = {None: Scope.grouping(), question.component: Scope(question.component)}
    rows = session.execute(statement).all()
    return [
        BatchEvent(
            seq,
            event_id,
            contact_id,
            _KINDS[kind],
            _CHANNELS[channel] if channel else None,
            purpose,
            scopes[component] if component in scopes else Scope(component),
            _BASES[basis] if basis else None,
            bool(pending),
            refers_to,
        )
        for (
            seq,
            event_id,
            contact_id,
            kind,
            channel,
            purpose,
            component,
            basis,
            pending,
            refers_to,
        ) in rows
    ]


_KINDS = {kind.value: kind for kind in EventKind}
_CHANNELS = {channel.value: channel for channel in Channel}
_BASES = {basis.value: basis for basis in LegalBasis}


def values_of(session: Session, values: Collection[str]) -> Any:
    """`SELECT value FROM <values>`, for `column IN (...)`: the values as ONE parameter, a
    JSON array the database unpacks (10,000 bound parameters cost more to send and parse
    than the query costs to run), and a set the planner joins to an index probe by probe."""
    document = json.dumps(list(set(values)))
    if session.get_bind().dialect.name == "postgresql":
        unpacked = func.json_array_elements_text(cast(literal(document), JSON))
    else:
        unpacked = func.json_each(literal(document))
    return select(unpacked.table_valued("value").c.value)


# --- Purposes and basis rules ---------------------------------------------------------------


def purpose(session: Session, key: str) -> Purpose | None:
    row = session.get(PurposeRow, key)
    return purpose_of(row) if row is not None else None


def purposes(session: Session, include_inactive: bool = False) -> list[Purpose]:
    """The catalogue, by key."""
    statement = select(PurposeRow).order_by(PurposeRow.key)
    if not include_inactive:
        statement = statement.where(PurposeRow.active.is_(True))
    return [purpose_of(row) for row in session.scalars(statement)]


def add_purpose(session: Session, new: Purpose) -> bool:
    """Inserts a purpose; False when the key is taken."""
    statement = (
        _insert(session, PurposeRow)
        .values(
            key=new.key,
            owner_component=new.owner,
            label_fr=new.label_fr,
            label_en=new.label_en,
            channels=channels_text(new.channels),
            marketing=new.marketing,
            retention_months=new.retention_months,
            active=new.active,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def save_purpose(session: Session, changed: Purpose) -> None:
    """Writes the labels, channels and active flag of an existing purpose."""
    session.execute(
        update(PurposeRow)
        .where(PurposeRow.key == changed.key)
        .values(
            label_fr=changed.label_fr,
            label_en=changed.label_en,
            channels=channels_text(changed.channels),
            active=changed.active,
        )
    )


def rules(session: Session, purpose_key: str | None = None) -> list[BasisRule]:
    """The basis rules (of one purpose, or all), in key order."""
    statement = select(BasisRuleRow).order_by(
        BasisRuleRow.purpose, BasisRuleRow.channel, BasisRuleRow.contact_kind
    )
    if purpose_key is not None:
        statement = statement.where(BasisRuleRow.purpose == purpose_key)
    return [rule_of(row) for row in session.scalars(statement)]


def put_rule(session: Session, rule: BasisRule) -> None:
    """Sets the basis of one purpose x channel x contact kind (replacing the one there)."""
    statement = _insert(session, BasisRuleRow).values(
        purpose=rule.purpose,
        channel=rule.channel.value,
        contact_kind=rule.contact_kind.value,
        basis=rule.basis.value,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["purpose", "channel", "contact_kind"],
            set_={"basis": statement.excluded.basis},
        )
    )


# --- Notices ---------------------------------------------------------------------------------


def notice(session: Session, notice_id: str) -> Notice | None:
    row = session.get(NoticeRow, notice_id)
    return notice_of(row) if row is not None else None


def notices(session: Session, purpose_key: str) -> list[Notice]:
    """Every published version for a purpose, by language then version."""
    rows = session.scalars(
        select(NoticeRow)
        .where(NoticeRow.purpose == purpose_key)
        .order_by(NoticeRow.language, NoticeRow.version)
    )
    return [notice_of(row) for row in rows]


def publish_notice(
    session: Session,
    purpose_key: str,
    language: Language,
    text: str,
    published_at: datetime,
    published_by: str,
) -> Notice | None:
    """Appends the next version; None when a concurrent publication took that number."""
    latest = session.scalar(
        select(func.coalesce(func.max(NoticeRow.version), 0)).where(
            NoticeRow.purpose == purpose_key, NoticeRow.language == language.value
        )
    )
    statement = (
        _insert(session, NoticeRow)
        .values(
            id=str(uuid.uuid4()),
            purpose=purpose_key,
            language=language.value,
            version=int(latest or 0) + 1,
            text=text,
            published_at=published_at.astimezone(UTC),
            published_by=published_by,
        )
        .on_conflict_do_nothing(index_elements=["purpose", "language", "version"])
        .returning(NoticeRow)
    )
    row = session.scalars(statement).first()
    return notice_of(row) if row is not None else None


def _insert(session: Session, table: type[Any]) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# --- Suppression list: keyed hashes of addresses (services/consent/suppression.py) ---------


def suppress(session: Session, hashes: Collection[str], reason: str, recorded_at: datetime) -> int:
    """Adds the hashes not listed yet (the first reason stays); returns how many were new."""
    if not hashes:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"hash": h, "reason": reason, "recorded_at": recorded_at} for h in sorted(set(hashes))]
    statement = (
        insert(SuppressionRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["hash"])
        .returning(SuppressionRow.hash)
    )
    return len(session.scalars(statement).all())


def blocked(session: Session, hashes: Collection[str]) -> set[str]:
    """Which of these address hashes are suppressed, in one query (up to 10,000 of them)."""
    if not hashes:
        return set()
    found = session.scalars(
        select(SuppressionRow.hash).where(SuppressionRow.hash.in_(values_of(session, hashes)))
    )
    return set(found)


def event_by_id(session: Session, event_id: str) -> ConsentEvent | None:
    """One event by its id (a receipt is asked for by event id)."""
    row = session.scalars(select(ConsentEventRow).where(ConsentEventRow.id == event_id)).first()
    return event_of(row) if row is not None else None


# --- Privacy requests ----------------------------------------------------------------------


def insert_privacy_request(
    session: Session, request: PrivacyRequest, rectification: Rectification | None
) -> None:
    """Stores a new request with its steps, due at once."""
    session.add(
        PrivacyRequestRow(
            id=request.id,
            kind=request.kind.value,
            contact_id=request.contact_id,
            contact_digest=contact_digest(request.contact_id or ""),
            status=request.status.value,
            opened_at=request.opened_at,
            deadline=request.deadline,
            opened_by=request.opened_by,
            finished_at=request.finished_at,
            next_attempt_at=request.opened_at,
            rectification=_rectification_json(rectification),
        )
    )
    session.add_all(
        PrivacyStepRow(
            request_id=request.id,
            part=step.part.value,
            position=position,
            status=step.status.value,
            attempts=step.attempts,
            last_attempt_at=step.last_attempt_at,
            last_outcome=step.last_outcome,
        )
        for position, step in enumerate(request.steps)
    )
    session.flush()


def privacy_request(
    session: Session, request_id: str, with_audit: bool = True
) -> PrivacyRequest | None:
    """One request with its steps (and its audit trail), or None."""
    row = session.get(PrivacyRequestRow, request_id)
    if row is None:
        return None
    return _privacy_requests_of(session, [row], with_audit)[0]


def privacy_requests(
    session: Session,
    digest: str | None,
    status: Status | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[PrivacyRequest]:
    """Requests newest first (opened_at, then id), after a page boundary; no audit trails."""
    query = select(PrivacyRequestRow)
    if digest is not None:
        query = query.where(PrivacyRequestRow.contact_digest == digest)
    if status is not None:
        query = query.where(PrivacyRequestRow.status == status.value)
    if after is not None:
        opened_at, request_id = after
        query = query.where(
            (PrivacyRequestRow.opened_at < opened_at)
            | ((PrivacyRequestRow.opened_at == opened_at) & (PrivacyRequestRow.id < request_id))
        )
    rows = list(
        session.scalars(
            query.order_by(PrivacyRequestRow.opened_at.desc(), PrivacyRequestRow.id.desc()).limit(
                limit
            )
        )
    )
    return _privacy_requests_of(session, rows, with_audit=False)


def due_privacy_requests(session: Session, now: datetime, limit: int) -> list[str]:
    """Ids of unfinished requests whose next attempt is due, oldest due first."""
    return list(
        session.scalars(
            select(PrivacyRequestRow.id)
            .where(
                PrivacyRequestRow.status.in_([s.value for s in UNFINISHED]),
                PrivacyRequestRow.next_attempt_at <= now,
            )
            .order_by(PrivacyRequestRow.next_attempt_at)
            .limit(limit)
        )
    )


def claim_privacy_request(
    session: Session, request_id: str, now: datetime
) -> tuple[PrivacyRequest, Rectification | None] | None:
    """Locks a due, unfinished request for this transaction; None when another replica holds
    it or it is no longer due (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer)."""
    row = session.scalars(
        select(PrivacyRequestRow)
        .where(
            PrivacyRequestRow.id == request_id,
            PrivacyRequestRow.status.in_([s.value for s in UNFINISHED]),
            PrivacyRequestRow.next_attempt_at <= now,
        )
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        return None
    return _privacy_requests_of(session, [row], False)[0], _rectification_of(row.rectification)


def record_step_attempt(
    session: Session,
    request_id: str,
    step: Step,
    result: dict[str, Any] | None,
) -> None:
    """Stores where one step stands after an attempt (and its export part, if any)."""
    values: dict[str, Any] = {
        "status": step.status.value,
        "attempts": step.attempts,
        "last_attempt_at": step.last_attempt_at,
        "last_outcome": step.last_outcome,
    }
    if result is not None:
        values["result"] = json.dumps(result, ensure_ascii=False, sort_keys=True)
    session.execute(
        update(PrivacyStepRow)
        .where(PrivacyStepRow.request_id == request_id, PrivacyStepRow.part == step.part.value)
        .values(**values)
    )


def update_privacy_request(
    session: Session,
    request_id: str,
    status: Status,
    next_attempt_at: datetime,
    finished_at: datetime | None,
) -> None:
    values: dict[str, Any] = {
        "status": status.value,
        "next_attempt_at": next_attempt_at,
        "finished_at": finished_at,
    }
    if status not in UNFINISHED:
        values["rectification"] = None  # forwarded or refused: no reason to keep the values
    session.execute(
        update(PrivacyRequestRow).where(PrivacyRequestRow.id == request_id).values(**values)
    )


def audit_privacy_request(session: Session, request_id: str, entry: AuditEntry) -> None:
    session.add(
        PrivacyAuditRow(
            request_id=request_id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            part=entry.part.value if entry.part else None,
            outcome=entry.outcome,
        )
    )
    session.flush()


def privacy_export_parts(session: Session, request_id: str) -> dict[str, Any]:
    """The stored export part of each step of a request, by part name."""
    rows = session.execute(
        select(PrivacyStepRow.part, PrivacyStepRow.result).where(
            PrivacyStepRow.request_id == request_id
        )
    )
    return {part: json.loads(result) for part, result in rows if result is not None}


def erase_consent_events(session: Session, contact_ids: Collection[str]) -> int:
    """Deletes every event, merge alias and outbox entry of these ids, through the one path the
    append-only triggers let through (migration 0006); returns how many events went."""
    ids = list(set(contact_ids))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config('crm.erasure', 'on', true)"))
        erased = _delete_events(session, ids)
        session.execute(text("SELECT set_config('crm.erasure', 'off', true)"))
    else:
        session.execute(text("INSERT INTO consent_erasure_gate (open) VALUES (1)"))
        erased = _delete_events(session, ids)
        session.execute(text("DELETE FROM consent_erasure_gate"))
    session.execute(
        delete(ContactAliasRow).where(
            ContactAliasRow.merged_id.in_(ids) | ContactAliasRow.survivor_id.in_(ids)
        )
    )
    # Owed mail and suppression changes name the contact too; erasure lists its addresses.
    session.execute(delete(OutboxRow).where(OutboxRow.contact_id.in_(ids)))
    return erased


def _delete_events(session: Session, ids: list[str]) -> int:
    result = session.execute(delete(ConsentEventRow).where(ConsentEventRow.contact_id.in_(ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def scrub_privacy_requests(session: Session, contact_ids: Collection[str]) -> None:
    """Forgets these contacts in every request about them: id, values, export parts.

    The digest stays, so the holder of the contacts tombstone finds them again.
    """
    digests = [contact_digest(i) for i in set(contact_ids)]
    ids = select(PrivacyRequestRow.id).where(PrivacyRequestRow.contact_digest.in_(digests))
    session.execute(
        update(PrivacyStepRow)
        .where(PrivacyStepRow.request_id.in_(ids.scalar_subquery()))
        .values(result=None)
    )
    session.execute(
        update(PrivacyRequestRow)
        .where(PrivacyRequestRow.contact_digest.in_(digests))
        .values(contact_id=None, rectification=None)
    )


def _privacy_requests_of(
    session: Session, rows: list[PrivacyRequestRow], with_audit: bool
) -> list[PrivacyRequest]:
    ids = [row.id for row in rows]
    steps: dict[str, list[Step]] = defaultdict(list)
    for step in session.scalars(
        select(PrivacyStepRow)
        .where(PrivacyStepRow.request_id.in_(ids))
        .order_by(PrivacyStepRow.request_id, PrivacyStepRow.position)
    ):
        steps[step.request_id].append(
            Step(
                Part(step.part),
                StepStatus(step.status),
                step.attempts,
                step.last_attempt_at,
                step.last_outcome,
            )
        )
    audit: dict[str, list[AuditEntry]] = defaultdict(list)
    if with_audit:
        for entry in session.scalars(
            select(PrivacyAuditRow)
            .where(PrivacyAuditRow.request_id.in_(ids))
            .order_by(PrivacyAuditRow.seq)
        ):
            audit[entry.request_id].append(
                AuditEntry(
                    entry.at,
                    entry.actor,
                    entry.action,
                    Part(entry.part) if entry.part else None,
                    entry.outcome,
                )
            )
    return [
        PrivacyRequest(
            id=row.id,
            kind=Kind(row.kind),
            contact_id=row.contact_id,
            status=Status(row.status),
            opened_at=row.opened_at,
            deadline=row.deadline,
            opened_by=row.opened_by,
            finished_at=row.finished_at,
            steps=tuple(steps[row.id]),
            audit=tuple(audit[row.id]),
        )
        for row in rows
    ]


def _rectification_json(rectification: Rectification | None) -> str | None:
    if rectification is None:
        return None
    return json.dumps(
        {
            "owner": rectification.owner,
            "set": rectification.values,
            "clear": list(rectification.clear),
        },
        ensure_ascii=False,
    )


def _rectification_of(stored: str | None) -> Rectification | None:
    if stored is None:
        return None
    data = json.loads(stored)
    return Rectification(data["owner"], dict(data["set"]), tuple(data["clear"]))


# --- Mail outbox (outbox.py) ---------------------------------------------------------------


def enqueue(session: Session, entry: Entry, now: datetime) -> bool:
    """Adds an outbox entry, due now; False (nothing added) when its key is known."""
    statement = (
        _insert(session, OutboxRow)
        .values(
            idempotency_key=entry.idempotency_key,
            kind=entry.kind.value,
            contact_id=entry.contact_id,
            component_id=entry.component_id,
            link_kind=entry.link_kind.value if entry.link_kind else "",
            link_ref=entry.link_ref,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxRow.id)
    )
    return session.execute(statement).first() is not None


def due_outbox(session: Session, now: datetime, limit: int) -> list[int]:
    """Ids of entries not done whose next attempt has come, oldest first."""
    return list(
        session.scalars(
            select(OutboxRow.id)
            .where(OutboxRow.sent_at.is_(None), OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
        )
    )


def lease_outbox(
    session: Session, entry_id: int, now: datetime, until: datetime
) -> tuple[Entry, int] | None:
    """Takes a due entry until `until` (another replica skips it meanwhile); None when it
    is no longer due. The conditional UPDATE is the claim on both backends."""
    row = session.scalars(
        update(OutboxRow)
        .where(
            OutboxRow.id == entry_id,
            OutboxRow.sent_at.is_(None),
            OutboxRow.next_attempt_at <= now,
        )
        .values(next_attempt_at=until, attempts=OutboxRow.attempts + 1)
        .returning(OutboxRow)
    ).first()
    if row is None:
        return None
    entry = Entry(
        row.idempotency_key, OutboxKind(row.kind), row.contact_id, row.component_id, row.link_ref
    )
    return entry, row.attempts


def outbox_pending_before(session: Session, contact_id: str, entry_id: int) -> bool:
    """Is an earlier entry about this contact still to be done (kept in order)?"""
    earlier = session.scalar(
        select(func.count())
        .select_from(OutboxRow)
        .where(
            OutboxRow.contact_id == contact_id,
            OutboxRow.id < entry_id,
            OutboxRow.sent_at.is_(None),
            OutboxRow.kind == OutboxKind.SUPPRESS_OBJECTION.value,
        )
    )
    return bool(earlier)


def outbox_attempts(session: Session, key: str) -> int:
    return int(
        session.scalar(select(OutboxRow.attempts).where(OutboxRow.idempotency_key == key)) or 0
    )


def close_outbox(session: Session, key: str, outcome: str, now: datetime) -> None:
    """Marks an entry done with the outcome it got."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.idempotency_key == key)
        .values(sent_at=now, last_outcome=outcome[:64])
    )


def retry_outbox(session: Session, key: str, outcome: str, at: datetime) -> None:
    """Leaves an entry pending, to be tried again at `at`."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.idempotency_key == key)
        .values(next_attempt_at=at, last_outcome=outcome[:64])
    )


def outbox_entries(session: Session, contact_id: str) -> list[OutboxRow]:
    """Every entry about one contact, oldest first (tests and erasure read them)."""
    return list(
        session.scalars(
            select(OutboxRow).where(OutboxRow.contact_id == contact_id).order_by(OutboxRow.id)
        )
    )


def lift(session: Session, hashes: Collection[str], reason: str) -> int:
    """Removes these hashes from the suppression list when listed for `reason` only."""
    if not hashes:
        return 0
    result = session.execute(
        delete(SuppressionRow).where(
            SuppressionRow.hash.in_(set(hashes)), SuppressionRow.reason == reason
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- Retention (retention.py) ----------------------------------------------------------------


def contacts_with_events(session: Session) -> list[str]:
    """Every contact id some event names, in order."""
    return list(
        session.scalars(
            select(ConsentEventRow.contact_id).distinct().order_by(ConsentEventRow.contact_id)
        )
    )


def revalidation_of(session: Session, cycle_event_id: str) -> ConsentEvent | None:
    """The revalidation recorded for one retention cycle, if any."""
    row = session.scalars(
        select(ConsentEventRow)
        .where(
            ConsentEventRow.refers_to == cycle_event_id,
            ConsentEventRow.kind == EventKind.REVALIDATED.value,
        )
        .order_by(ConsentEventRow.seq)
    ).first()
    return event_of(row) if row is not None else None
