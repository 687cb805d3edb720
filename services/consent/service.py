"""The consent use cases: record a grant or a withdrawal, read a history, check a batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from meshkit.db import Database
from meshkit.errors import FailedPrecondition, NotFound, PermissionDenied, Violations
from meshkit.identity import Principal
from meshkit.roles import Role, missing_role_message
from meshkit.unsubscribe import UnsubscribeRequest
from services.consent import merges, policy, repository, suppression
from services.consent.clients import ContactDirectory
from services.consent.domain import Action, Change, Channel, ConsentEvent, Scope, Verdict
from services.consent.receipts import ReceiptInput, Receipts, SignedReceipt, build_receipt
from services.consent.suppression import Reason
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


# --- Suppression list, consent receipts, inbound unsubscribe mail --------------------------


def suppress(
    db: Database,
    secret: bytes,
    principal: Principal,
    addresses: Sequence[str],
    reason: Reason | None,
    clock: Clock = utc_now,
) -> int:
    """Lists the addresses' keyed hashes; returns how many were not listed yet."""
    if not (principal.is_service or principal.has_role(Role.DPO)):
        raise PermissionDenied(missing_role_message(Role.DPO))
    violations = Violations()
    if not addresses:
        violations.add("addresses", "at least one address")
    if reason is None:
        violations.add("reason", "required, one of: " + ", ".join(r.value for r in Reason))
    violations.raise_if_any()
    assert reason is not None
    hashes = suppression.hashes_of(secret, addresses)
    with db.transaction() as session:
        return repository.suppress(session, hashes, reason.value, clock())


def filter_suppressed(
    db: Database, secret: bytes, principal: Principal, addresses: Sequence[str]
) -> list[int]:
    """The positions of the suppressed addresses among `addresses`, from one query."""
    principal.require_service()
    hashes = suppression.hashes_of(secret, addresses)
    if not hashes:
        return []
    with db.transaction() as session:
        listed = repository.blocked(session, hashes)
    return [index for index, digest in enumerate(hashes) if digest in listed]


def receipt(db: Database, receipts: Receipts, principal: Principal, event_id: str) -> SignedReceipt:
    """The signed receipt of one grant, for its recording component's staff, a dpo or a service."""
    violations = Violations()
    if not event_id.strip():
        violations.add("event_id", "required")
    elif len(event_id) > 64:
        violations.add("event_id", "at most 64 characters")
    violations.raise_if_any()
    with db.transaction() as session:
        event = repository.event_by_id(session, event_id)
    allowed = principal.is_service or principal.has_role(Role.DPO)
    if event is None or not (allowed or principal.component == event.actor_component):
        raise NotFound("no receipt of yours has this event id")  # the same answer: no probing
    if event.action is not Action.GRANT:
        raise FailedPrecondition("only a grant has a consent receipt")
    document = build_receipt(receipt_input(event), receipts.controller)
    return receipts.signer.sign(document)


def receipt_input(event: ConsentEvent) -> ReceiptInput:
    """What a receipt says of a recorded grant (the purpose catalogue will bring labels)."""
    return ReceiptInput(
        event_id=event.id,
        contact_id=event.contact_id,
        purpose=event.purpose,
        purpose_label=event.purpose,
        purpose_category="6 - Marketing",
        channel=event.channel.value,
        service=event.scope.component or "grouping",
        on_behalf=event.actor_component is not None,
        legal_basis=event.legal_basis.value if event.legal_basis else "consent",
        collection_method=event.source,
        notice=event.text_shown or "",
        language="fr",
        consented_at=event.recorded_at,
    )


INBOUND_SOURCE = "inbound-mail"
INBOUND_ACTOR = Principal("service:consent-inbound-mail", roles=frozenset({Role.SERVICE.value}))


def withdraw_by_mail(
    db: Database, contacts: ContactDirectory, link: UnsubscribeRequest, clock: Clock = utc_now
) -> ConsentEvent:
    """The person's own unsubscribe mail: withdraws the token's purpose for the whole grouping."""
    request = ChangeRequest(
        contact_id=link.contact_id,
        channel=Channel.EMAIL,
        purpose=link.purpose,
        scope=Scope.grouping(),
        legal_basis=None,
        source=INBOUND_SOURCE,
        text_shown=f"Unsubscribe mail answering a message of campaign {link.campaign_id}",
    )
    return withdraw(db, contacts, INBOUND_ACTOR, request, clock)
