"""Privacy requests, their steps and audit, and the one path that erases events."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    delete,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from services.consent.models import (
    ConsentEventRow,
    ContactAliasRow,
    OutboxRow,
    PrivacyAuditRow,
    PrivacyRequestRow,
    PrivacyStepRow,
)
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
