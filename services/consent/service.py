"""The consent use cases: record a grant or a withdrawal, read a history, check a batch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from meshkit.db import Database
from meshkit.errors import NotFound, PermissionDenied
from meshkit.identity import Principal
from services.consent import merges, policy, repository
from services.consent.clients import ContactDirectory
from services.consent.domain import Action, Change, ConsentEvent, Verdict
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
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    request: ChangeRequest,
    clock: Clock = utc_now,
) -> ConsentEvent:
    """Records a grant for the scope the caller may speak for, of a contact that exists."""
    change = valid_change(request, Action.GRANT)
    if not policy.may_grant(principal, change.scope):
        raise PermissionDenied(_refusal("grant", change))
    _require_contact(contacts, change.contact_id)
    with db.transaction() as session:
        event = repository.append(session, principal, change, Action.GRANT, clock())
    assert event is not None  # a grant carries no withdrawal key: it cannot collide
    return event


def withdraw(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    request: ChangeRequest,
    clock: Clock = utc_now,
) -> ConsentEvent:
    """Records a withdrawal; never harder to get than a grant.

    Withdrawing what is already withdrawn for this scope appends nothing and
    returns the withdrawal that stands (policy.standing_withdrawal); two
    concurrent repeats append one event (the unique withdrawal key).
    """
    change = valid_change(request, Action.WITHDRAW)
    if not policy.may_withdraw(principal, change.scope):
        raise PermissionDenied(_refusal("withdraw", change))
    _require_contact(contacts, change.contact_id)
    with db.transaction() as session:
        events = repository.stream(session, change.contact_id, change.channel, change.purpose)
        standing = policy.standing_withdrawal(events, change.scope)
        if standing is not None:
            return standing
        key = policy.withdrawal_key(change, events)
        recorded = repository.append(session, principal, change, Action.WITHDRAW, clock(), key)
        return recorded or repository.by_withdrawal_key(session, key)


def history(db: Database, principal: Principal, contact_id: str) -> list[ConsentEvent]:
    """The events of one contact the caller may see, oldest first."""
    valid_contact_id(contact_id)
    if not policy.may_read_history(principal):
        raise PermissionDenied("reading consent history needs a token bound to a component")
    with db.transaction() as session:
        events = repository.history(session, contact_id)
    return [e for e in events if policy.may_see(principal, e.scope)]


def check_batch(
    db: Database, principal: Principal, request: BatchRequest
) -> list[tuple[str, Verdict]]:
    """One verdict per requested contact, in request order, from a single query.

    No existence check here: campaigns resolves its recipients with contacts
    first, and an unknown id simply has no consent.
    """
    principal.require_service()
    query = valid_batch(request)
    if not query.contact_ids:
        return []
    with db.transaction() as session:
        # Every id of a merged person is read together (merges.decide_batch).
        return merges.decide_batch(
            session, query.contact_ids, query.channel, query.purpose, query.component
        )


def _require_contact(contacts: ContactDirectory, contact_id: str) -> None:
    """NotFound unless contacts knows this id; Unavailable when it cannot say."""
    if contact_id not in contacts.existing([contact_id]):
        raise NotFound("contact not found")


def _refusal(verb: str, change: Change) -> str:
    if verb == "grant" and change.scope.is_grouping:
        return "only administrators and mesh services may grant consent for the whole grouping"
    if verb == "grant":
        return "you may grant consent only for your own component's scope"
    if change.scope.is_grouping:
        return "withdrawing for the whole grouping needs a component, or the admin or service role"
    return "you may withdraw consent only for your own component's scope or the whole grouping"
