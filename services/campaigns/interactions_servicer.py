"""gRPC adapter of the interaction history: message in, use case, message out.

Also the proto form of the interactions in a privacy export (ContactExport.interactions).
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from meshkit.errors import invalid
from meshkit.identity import current_principal
from protos.crm.campaigns.v1 import interactions_pb2 as pb
from protos.crm.campaigns.v1 import interactions_pb2_grpc
from services.campaigns.interactions import InteractionRecord, Interactions
from services.campaigns.interactions_policy import Entry, NewInteraction

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InteractionsService"].full_name


class InteractionsServicer(interactions_pb2_grpc.InteractionsServiceServicer):
    def __init__(self, interactions: Interactions):
        self._interactions = interactions

    def RecordInteraction(
        self, request: pb.RecordInteractionRequest, context: grpc.ServicerContext
    ) -> pb.RecordInteractionResponse:
        principal = current_principal()
        new = NewInteraction(
            contact_id=request.contact_id,
            channel=request.channel,
            component_id=request.component_id,
            purpose=request.purpose,
            occurred_at=_time(request, "occurred_at"),
            subject=request.subject,
            content=request.content,
            idempotency_key=request.idempotency_key,
        )
        recorded = self._interactions.record(principal, new)
        return pb.RecordInteractionResponse(
            interaction=entry_to_proto(recorded.entry), replayed=recorded.replayed
        )

    def ListInteractions(
        self, request: pb.ListInteractionsRequest, context: grpc.ServicerContext
    ) -> pb.ListInteractionsResponse:
        page = self._interactions.history(
            current_principal(),
            request.contact_id,
            _time(request, "since"),
            _time(request, "until"),
            request.page_size,
            request.page_token,
        )
        return pb.ListInteractionsResponse(
            entries=[entry_to_proto(e) for e in page.entries],
            next_page_token=page.next_page_token,
        )


def register(servicer: InteractionsServicer):  # type: ignore[no-untyped-def]
    """The register function build_server expects for this servicer."""

    def add(server: grpc.Server) -> None:
        interactions_pb2_grpc.add_InteractionsServiceServicer_to_server(servicer, server)

    return add


def entry_to_proto(entry: Entry) -> pb.InteractionEntry:
    message = pb.InteractionEntry(
        id=entry.id,
        kind=entry.kind.value,
        contact_id=entry.contact_id,
        occurred_at=_timestamp(entry.at),
        component=entry.component,
        channel=entry.channel,
        purpose=entry.purpose,
        campaign_id=entry.campaign_id,
        campaign_name=entry.campaign_name,
        message_class=entry.message_class,
        transactional_kind=entry.transactional_kind,
        outcome=entry.outcome,
        source=entry.source,
        recorded_by=entry.recorded_by,
        subject=entry.subject,
        content=entry.content,
        content_hidden=entry.content_hidden,
    )
    if entry.recorded_at is not None:
        message.recorded_at.CopyFrom(_timestamp(entry.recorded_at))
    return message


def exported_interaction(record: InteractionRecord) -> pb.ExportedInteraction:
    """One stored interaction as a privacy export carries it (every column)."""
    return pb.ExportedInteraction(
        id=record.id,
        contact_id=record.contact_id,
        component=record.component,
        channel=record.channel,
        purpose=record.purpose or "",
        occurred_at=_timestamp(record.occurred_at),
        recorded_at=_timestamp(record.recorded_at),
        recorded_by=record.recorded_by,
        subject=record.subject or "",
        content=record.content or "",
        source=record.source,
        idempotency_key=record.idempotency_key or "",
    )


def _time(message: object, name: str) -> datetime | None:
    """An optional Timestamp field; out of the range a datetime holds: InvalidArgument."""
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(message, name)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise invalid(name, "must be between year 1 and year 9999") from None


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
