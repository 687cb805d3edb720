"""Campaigns' SendTransactional as consent calls it (its own service identity, a deadline)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import grpc

from meshkit.grpc_client import domain_error
from protos.crm.campaigns.v1 import campaigns_pb2, campaigns_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transactional:
    """One transactional mail: campaigns finds the address through the component's view."""

    idempotency_key: str
    contact_id: str
    component_id: str
    kind: str  # consent_confirmation or consent_revalidation
    subject: str
    text_body: str


class Mailer(Protocol):
    def send(self, mail: Transactional) -> str:
        """The outcome campaigns recorded (sent, unconfirmed, not_member, ..., or pending);
        raises meshkit's Unavailable when campaigns or its relay did not take it."""
        ...


class GrpcMailer:
    """CampaignsService.SendTransactional over a channel carrying consent's identity."""

    def __init__(self, channel: grpc.Channel):
        self._stub = campaigns_pb2_grpc.CampaignsServiceStub(channel)

    def send(self, mail: Transactional) -> str:
        request = campaigns_pb2.SendTransactionalRequest(
            idempotency_key=mail.idempotency_key,
            contact_id=mail.contact_id,
            component_id=mail.component_id,
            kind=mail.kind,
            subject=mail.subject,
            text_body=mail.text_body,
            headers={"Content-Language": "fr, en"},
        )
        try:
            reply = self._stub.SendTransactional(request)
        except grpc.RpcError as error:
            mapped = domain_error(error)
            log.warning("campaigns SendTransactional: %s", mapped.grpc_code)  # never the message
            raise mapped from None
        return str(reply.outcome)
