"""Proto messages to domain values and back; nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent.domain import (
    Action,
    BasisRule,
    Channel,
    CheckItem,
    ConsentEvent,
    ContactKind,
    Decision,
    EventKind,
    How,
    LegalBasis,
    Notice,
    Purpose,
    Scope,
    StateEntry,
    Verdict,
)
from services.consent.receipts import SignedReceipt
from services.consent.service import State
from services.consent.suppression import Reason
from services.consent.validation import (
    BatchRequest,
    ChangeRequest,
    CollectionRequest,
    ConfirmRequest,
    ObjectionRequest,
    PurposeRequest,
    RevalidateRequest,
    RuleRequest,
)

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
    pb.LEGAL_BASIS_CONTRACT: LegalBasis.CONTRACT,
    pb.LEGAL_BASIS_LEGAL_OBLIGATION: LegalBasis.LEGAL_OBLIGATION,
}
LEGAL_BASES_PB = {domain: proto for proto, domain in LEGAL_BASES.items()}
ACTIONS_PB = {Action.GRANT: pb.ACTION_GRANT, Action.WITHDRAW: pb.ACTION_WITHDRAW}
KINDS_PB = {kind: pb.EventKind.Value(f"EVENT_KIND_{kind.name}") for kind in EventKind}
HOWS = {pb.How.Value(f"HOW_{how.name}"): how for how in How}
HOWS_PB = {how: proto for proto, how in HOWS.items()}
CONTACT_KINDS = {
    pb.CONTACT_KIND_CONSUMER: ContactKind.CONSUMER,
    pb.CONTACT_KIND_BUSINESS: ContactKind.BUSINESS,
}
CONTACT_KINDS_PB = {domain: proto for proto, domain in CONTACT_KINDS.items()}
DECISIONS_PB = {decision: pb.Decision.Value(f"DECISION_{decision.name}") for decision in Decision}


def change_to_record(message: pb.ChangeToRecord) -> tuple[EventKind | None, ChangeRequest]:
    """One change of a RecordChanges: its kind (None when unspecified) and its request."""
    kinds = {pb.ACTION_GRANT: EventKind.GRANTED, pb.ACTION_WITHDRAW: EventKind.WITHDRAWN}
    return kinds.get(message.action), change_request(message.change)


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
        notice_id=message.notice_id,
        how=HOWS.get(message.how),
        ip=message.ip,
        user_agent=message.user_agent,
        pending=message.pending,
    )


def objection_request(message: pb.ObjectionRequest) -> ObjectionRequest:
    return ObjectionRequest(
        contact_id=message.contact_id,
        channel=CHANNELS.get(message.channel),
        collection=CollectionRequest(
            HOWS.get(message.how), message.source, message.ip, message.user_agent
        ),
    )


def confirm_request(message: pb.ConfirmRequest) -> ConfirmRequest:
    return ConfirmRequest(
        grant_event_id=message.grant_event_id,
        collection=CollectionRequest(
            HOWS.get(message.how), message.source, message.ip, message.user_agent
        ),
    )


def revalidate_request(message: pb.RevalidateRequest) -> RevalidateRequest:
    return RevalidateRequest(
        event_id=message.event_id,
        collection=CollectionRequest(
            HOWS.get(message.how), message.source, message.ip, message.user_agent
        ),
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
        channel=CHANNELS_PB[event.channel] if event.channel else pb.CHANNEL_UNSPECIFIED,
        purpose=event.purpose or "",
        scope=scope_message(event.scope),
        action=ACTIONS_PB[event.action] if event.action else pb.ACTION_UNSPECIFIED,
        legal_basis=(
            LEGAL_BASES_PB[event.legal_basis] if event.legal_basis else pb.LEGAL_BASIS_UNSPECIFIED
        ),
        actor_subject=event.actor_subject,
        actor_component=event.actor_component or "",
        source=event.source,
        text_shown=event.text_shown or "",
        kind=KINDS_PB[event.kind],
        how=HOWS_PB[event.how],
        notice_id=event.notice_id or "",
        pending=event.pending,
        refers_to=event.refers_to or "",
        ip=event.ip or "",
        user_agent=event.user_agent or "",
        all_channels=event.kind is EventKind.OBJECTED and event.channel is None,
    )
    message.recorded_at.FromDatetime(event.recorded_at)
    return message


def history_message(events: list[ConsentEvent], next_page_token: str) -> pb.GetHistoryResponse:
    return pb.GetHistoryResponse(
        events=[event_message(e) for e in events], next_page_token=next_page_token
    )


def batch_request(message: pb.CheckBatchRequest) -> BatchRequest:
    return BatchRequest(
        component_id=message.component_id,
        channel=CHANNELS.get(message.channel),
        purpose=message.purpose,
        contact_ids=list(message.contact_ids),
        items=[CheckItem(i.contact_id, i.address, i.professional_address) for i in message.items],
    )


def _basis(verdict: Verdict) -> int:
    return LEGAL_BASES_PB[verdict.basis] if verdict.basis else pb.LEGAL_BASIS_UNSPECIFIED


def batch_message(verdicts: list[tuple[str, Verdict]]) -> pb.CheckBatchResponse:
    message = pb.CheckBatchResponse()
    add = message.results.add  # in place: a third of the time of 10,000 CheckResult(...)
    for contact_id, verdict in verdicts:
        add(
            contact_id=contact_id,
            allowed=verdict.allowed,
            decision=DECISIONS_PB[verdict.decision],
            deciding_event_id=verdict.deciding_event_id or "",
            basis=_basis(verdict),  # type: ignore[arg-type]
        )
    return message


def at_of(message: pb.GetStateRequest) -> datetime | None:
    """The time asked for; None (now) when absent."""
    if not message.HasField("at"):
        return None
    return message.at.ToDatetime(tzinfo=UTC)


def state_message(state: State) -> pb.GetStateResponse:
    return pb.GetStateResponse(
        entries=[_entry(e) for e in state.entries],
        events=[event_message(e) for e in state.events],
    )


def _entry(entry: StateEntry) -> pb.StateEntry:
    return pb.StateEntry(
        purpose=entry.purpose,
        channel=CHANNELS_PB[entry.channel],
        scope=scope_message(entry.scope),
        allowed=entry.verdict.allowed,
        decision=DECISIONS_PB[entry.verdict.decision],
        basis=_basis(entry.verdict),  # type: ignore[arg-type]
        deciding_event_id=entry.verdict.deciding_event_id or "",
    )


def purpose_request(message: pb.Purpose) -> PurposeRequest:
    return PurposeRequest(
        key=message.key,
        owner=message.owner_component_id,
        label_fr=message.label_fr,
        label_en=message.label_en,
        channels=[CHANNELS.get(c) for c in message.channels],
        marketing=message.marketing,
        retention_months=message.retention_months,
    )


def purpose_message(purpose: Purpose) -> pb.Purpose:
    return pb.Purpose(
        key=purpose.key,
        owner_component_id=purpose.owner or "",
        label_fr=purpose.label_fr,
        label_en=purpose.label_en,
        channels=[CHANNELS_PB[c] for c in sorted(purpose.channels)],
        marketing=purpose.marketing,
        retention_months=purpose.retention_months,
        active=purpose.active,
    )


def rule_request(message: pb.BasisRule) -> RuleRequest:
    return RuleRequest(
        purpose=message.purpose,
        channel=CHANNELS.get(message.channel),
        contact_kind=CONTACT_KINDS.get(message.contact_kind),
        basis=LEGAL_BASES.get(message.basis),
    )


def rule_message(rule: BasisRule) -> pb.BasisRule:
    return pb.BasisRule(
        purpose=rule.purpose,
        channel=CHANNELS_PB[rule.channel],
        contact_kind=CONTACT_KINDS_PB[rule.contact_kind],
        basis=LEGAL_BASES_PB[rule.basis],
    )


def notice_message(notice: Notice) -> pb.Notice:
    message = pb.Notice(
        id=notice.id,
        purpose=notice.purpose,
        language=notice.language.value,
        version=notice.version,
        text=notice.text,
        published_by=notice.published_by,
    )
    message.published_at.FromDatetime(notice.published_at)
    return message


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
