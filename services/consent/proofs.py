"""The use cases that prove and keep a person's choice: the suppression list, consent
receipts, and the unsubscribe mail a person sends to the List-Unsubscribe mailto:."""

from __future__ import annotations

from collections.abc import Sequence

from meshkit.db import Database
from meshkit.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Violations,
)
from meshkit.identity import Principal
from meshkit.roles import Role, missing_role_message
from meshkit.unsubscribe import UnsubscribeRequest
from services.consent import repository, suppression
from services.consent.clients import ContactDirectory
from services.consent.domain import (
    Channel,
    ConsentEvent,
    EventKind,
    How,
    Notice,
    Purpose,
    Scope,
)
from services.consent.receipts import ReceiptInput, Receipts, SignedReceipt, build_receipt
from services.consent.service import Clock, utc_now, withdraw
from services.consent.suppression import Reason
from services.consent.validation import (
    ChangeRequest,
)


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
        if event.kind is not EventKind.GRANTED:
            raise FailedPrecondition("only a grant has a consent receipt")
        purpose = repository.purpose(session, event.purpose or "")
        notice = repository.notice(session, event.notice_id) if event.notice_id else None
    document = build_receipt(receipt_input(event, purpose, notice), receipts.controller)
    return receipts.signer.sign(document)


def receipt_input(
    event: ConsentEvent, purpose: Purpose | None, notice: Notice | None
) -> ReceiptInput:
    """What a receipt says of a recorded grant: the purpose's label, the notice the person saw."""
    language = notice.language.value if notice is not None else "fr"
    label = event.purpose or ""
    if purpose is not None:
        label = purpose.label_en if language == "en" else purpose.label_fr
    if notice is not None:
        shown = (
            f"{notice.purpose} notice v{notice.version} ({notice.language.value}): {notice.text}"
        )
    else:
        shown = event.text_shown or ""
    return ReceiptInput(
        event_id=event.id,
        contact_id=event.contact_id,
        purpose=event.purpose or "",
        purpose_label=label,
        purpose_category="6 - Marketing"
        if purpose is None or purpose.marketing
        else "1 - Core Function",
        channel=event.channel.value if event.channel else "email",
        service=event.scope.component or "grouping",
        on_behalf=event.actor_component is not None,
        legal_basis=event.legal_basis.value if event.legal_basis else "consent",
        collection_method=event.how.value,
        notice=shown,
        language=language,
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
        how=How.INBOUND_MAIL,
    )
    return withdraw(db, contacts, INBOUND_ACTOR, request, clock)
