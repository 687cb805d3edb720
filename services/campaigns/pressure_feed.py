"""Consent's feed of withdrawals and objections, as campaigns' pressure rollup reads it."""

from __future__ import annotations

from datetime import UTC

import grpc

from meshkit.grpc_client import domain_error
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from services.campaigns.pressure_rollup import FeedEvent

KINDS = ("withdrawn", "objected")


class GrpcEventFeed:
    """ListConsentEvents over the service's consent channel (service identity, deadline)."""

    def __init__(self, channel: grpc.Channel):
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)

    def events(self, after: int, page_size: int) -> tuple[list[FeedEvent], int]:
        request = consent_pb2.ListConsentEventsRequest(
            after=after, kinds=list(KINDS), page_size=page_size
        )
        try:
            reply = self._stub.ListConsentEvents(request)
        except grpc.RpcError as error:
            raise domain_error(error) from None
        return (
            [
                FeedEvent(e.id, e.contact_id, e.kind, e.purpose, e.at.ToDatetime(tzinfo=UTC))
                for e in reply.events
            ],
            reply.next,
        )
