"""The consent use cases: record a grant or a withdrawal, read a history, check a batch."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from meshkit.db import Database
from meshkit.errors import PermissionDenied
from meshkit.identity import Principal
from services.consent import policy
from services.consent.domain import Action, Change, ConsentEvent, Verdict
from services.consent.models import ConsentEventRow, event_of
from services.consent.validation import (
    BatchRequest,
    ChangeRequest,
    valid_batch,
    valid_change,
    valid_contact_id,
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The server's clock, in UTC."""
    return datetime.now(UTC)


def grant(
    db: Database, principal: Principal, request: ChangeRequest, clock: Clock = utc_now
) -> ConsentEvent:
    """Records a grant for the scope the caller may speak for."""
    change = valid_change(request, Action.GRANT)
    if not policy.may_grant(principal, change.scope):
        raise PermissionDenied(_refusal("grant", change))
    return _append(db, principal, change, Action.GRANT, clock)


def withdraw(
    db: Database, principal: Principal, request: ChangeRequest, clock: Clock = utc_now
) -> ConsentEvent:
    """Records a withdrawal; never harder to get than a grant."""
    change = valid_change(request, Action.WITHDRAW)
    if not policy.may_withdraw(principal, change.scope):
        raise PermissionDenied(_refusal("withdraw", change))
    return _append(db, principal, change, Action.WITHDRAW, clock)


def history(db: Database, principal: Principal, contact_id: str) -> list[ConsentEvent]:
    """The events of one contact the caller may see, oldest first."""
    valid_contact_id(contact_id)
    if not policy.may_read_history(principal):
        raise PermissionDenied("reading consent history needs a token bound to a component")
    with db.transaction() as session:
        rows = session.scalars(
            select(ConsentEventRow)
            .where(ConsentEventRow.contact_id == contact_id)
            .order_by(ConsentEventRow.seq)
        ).all()
        events = [event_of(row) for row in rows]
    return [e for e in events if policy.may_see(principal, e.scope)]


def check_batch(
    db: Database, principal: Principal, request: BatchRequest
) -> list[tuple[str, Verdict]]:
    """One verdict per requested contact, in request order, from a single query."""
    principal.require_service()
    query = valid_batch(request)
    if not query.contact_ids:
        return []
    with db.transaction() as session:
        rows = session.scalars(
            select(ConsentEventRow).where(
                ConsentEventRow.contact_id.in_(set(query.contact_ids)),
                ConsentEventRow.channel == query.channel.value,
                ConsentEventRow.purpose == query.purpose,
            )
        ).all()
        events = [event_of(row) for row in rows]
    return policy.decide_batch(
        events, query.contact_ids, query.channel, query.purpose, query.component
    )


def _append(
    db: Database, principal: Principal, change: Change, action: Action, clock: Clock
) -> ConsentEvent:
    # The actor is always the verified caller, never something the request claims.
    row = ConsentEventRow(
        id=str(uuid.uuid4()),
        contact_id=change.contact_id,
        channel=change.channel.value,
        purpose=change.purpose,
        scope_kind=change.scope.kind,
        scope_component=change.scope.component,
        action=action.value,
        legal_basis=change.legal_basis.value if change.legal_basis else None,
        actor_subject=principal.subject,
        actor_component=principal.component,
        source=change.source,
        text_shown=change.text_shown,
        recorded_at=clock().astimezone(UTC),
    )
    with db.transaction() as session:
        session.add(row)
        session.flush()  # assigns seq
        return event_of(row)


def _refusal(verb: str, change: Change) -> str:
    if verb == "grant" and change.scope.is_grouping:
        return "only administrators and mesh services may grant consent for the whole grouping"
    if verb == "grant":
        return "you may grant consent only for your own component's scope"
    if change.scope.is_grouping:
        return "withdrawing for the whole grouping needs a component, or the admin or service role"
    return "you may withdraw consent only for your own component's scope or the whole grouping"
