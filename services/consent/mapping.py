"""Proto messages to domain values and back; nothing else."""

from __future__ import annotations

from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent.domain import (
    Action,
    Channel,
    ConsentEvent,
    Decision,
    LegalBasis,
    Scope,
    Verdict,
)
from services.consent.receipts import SignedReceipt
from services.consent.suppression import Reason
from services.consent.validation import BatchRequest, ChangeRequest

CHANNELS = {
    pb.CHANNEL_EMAIL: Channel.EMAIL,
    pb.CHANNEL_SMS: Channel.SMS,
    pb.CHANNEL_PHONE: Channel.PHONE,
    pb.CHANNEL_POST: Channel.POST,
}
CHANNELS_PB = {domain: proto for proto, domain in CHANNELS.items()}
LEGAL_BASES = {
    pb.LEGAL_BASIS_CONSENT: LegalBasis.CONSENT,
    pb.LEGAL_BASIS_LEGITIMATE_INTEREST: LegalBasis.LEGITIMATE_INTEREST,
}
LEGAL_BASES_PB = {domain: proto for proto, domain in LEGAL_BASES.items()}
ACTIONS_PB = {Action.GRANT: pb.ACTION_GRANT, Action.WITHDRAW: pb.ACTION_WITHDRAW}
DECISIONS_PB = {
    Decision.CONSENT_GIVEN: pb.DECISION_CONSENT_GIVEN,
    Decision.LEGITIMATE_INTEREST: pb.DECISION_LEGITIMATE_INTEREST,
    Decision.NO_CONSENT: pb.DECISION_NO_CONSENT,
    Decision.WITHDRAWN: pb.DECISION_WITHDRAWN,
}


def change_request(message: pb.ConsentChange) -> ChangeRequest:
    """The change as received; unknown or unspecified enums become None for validation."""
    return ChangeRequest(
        contact_id=message.contact_id,
        channel=CHANNELS.get(message.channel),
        purpose=message.purpose,
        scope=scope_of(message.scope) if message.HasField("scope") else None,
        legal_basis=LEGAL_BASES.get(message.legal_basis),
        source=message.source,
        text_shown=message.text_shown,
    )


def scope_of(message: pb.Scope) -> Scope | None:
    """The domain scope; None when neither grouping (true) nor a component is given."""
    kind = message.WhichOneof("kind")
    if kind == "component_id":
        return Scope.of(message.component_id)
    if kind == "grouping" and message.grouping:
        return Scope.grouping()
    return None


def scope_message(scope: Scope) -> pb.Scope:
    if scope.component is None:
        return pb.Scope(grouping=True)
    return pb.Scope(component_id=scope.component)


def event_message(event: ConsentEvent) -> pb.ConsentEvent:
    """The proto form of a stored event."""
    message = pb.ConsentEvent(
        id=event.id,
        contact_id=event.contact_id,
        channel=CHANNELS_PB[event.channel],
        purpose=event.purpose,
        scope=scope_message(event.scope),
        action=ACTIONS_PB[event.action],
        legal_basis=(
            LEGAL_BASES_PB[event.legal_basis] if event.legal_basis else pb.LEGAL_BASIS_UNSPECIFIED
        ),
        actor_subject=event.actor_subject,
        actor_component=event.actor_component or "",
        source=event.source,
        text_shown=event.text_shown or "",
    )
    message.recorded_at.FromDatetime(event.recorded_at)
    return message


def history_message(events: list[ConsentEvent]) -> pb.GetHistoryResponse:
    return pb.GetHistoryResponse(events=[event_message(e) for e in events])


def batch_request(message: pb.CheckBatchRequest) -> BatchRequest:
    return BatchRequest(
        component_id=message.component_id,
        channel=CHANNELS.get(message.channel),
        purpose=message.purpose,
        contact_ids=list(message.contact_ids),
    )


def batch_message(verdicts: list[tuple[str, Verdict]]) -> pb.CheckBatchResponse:
    return pb.CheckBatchResponse(
        results=[
            pb.CheckResult(
                contact_id=contact_id,
                allowed=verdict.allowed,
                decision=DECISIONS_PB[verdict.decision],
                deciding_event_id=verdict.deciding_event_id or "",
            )
            for contact_id, verdict in verdicts
        ]
    )


# --- Suppression list and consent receipts -------------------------------------------------

SUPPRESSION_REASONS = {
    pb.SUPPRESSION_REASON_OBJECTED: Reason.OBJECTED,
    pb.SUPPRESSION_REASON_ERASED: Reason.ERASED,
    pb.SUPPRESSION_REASON_BOUNCED: Reason.BOUNCED,
    pb.SUPPRESSION_REASON_MANUAL: Reason.MANUAL,
}


def suppression_reason(value: int) -> Reason | None:
    """The reason; None when unspecified or unknown, for validation to name."""
    return SUPPRESSION_REASONS.get(value)  # type: ignore[call-overload]


def receipt_message(receipt: SignedReceipt) -> pb.ConsentReceipt:
    return pb.ConsentReceipt(
        receipt_id=receipt.receipt_id,
        receipt_json=receipt.receipt_json,
        jws=receipt.jws,
        key_id=receipt.key_id,
    )
