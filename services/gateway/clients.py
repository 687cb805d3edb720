"""The gateway's gRPC stubs, built once per app.

Calls made for a signed-in caller carry the caller's own token, so each
service decides again who may see or do what. Only the public pages reached
from a mail (unsubscribe, preferences, confirmation and revalidation links,
the person's receipt link and the receipt keys) and a merge (telling consent
and campaigns, once contacts merged for the caller) call with the gateway's
own service identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from flask import current_app, g

from meshkit.errors import Unauthenticated
from meshkit.grpc_client import open_channel
from protos.crm.campaigns.v1 import campaigns_pb2_grpc, interactions_pb2_grpc, pressure_pb2_grpc
from protos.crm.consent.v1 import consent_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2_grpc
from services.gateway.settings import GatewaySettings

EXTENSION = "crm.gateway.clients"


def forwarded_token() -> str:
    """The verified bearer token of the request being served."""
    token = g.get("token")
    if not token:
        raise Unauthenticated("no verified token to forward")
    return str(token)


@dataclass(frozen=True)
class Clients:
    """One stub per upstream service, plus each of them as the gateway itself."""

    contacts: contacts_pb2_grpc.ContactsServiceStub
    consent: consent_pb2_grpc.ConsentServiceStub
    campaigns: campaigns_pb2_grpc.CampaignsServiceStub
    # Campaigns' other services, over the same channel (the caller's token).
    interactions: interactions_pb2_grpc.InteractionsServiceStub
    pressure: pressure_pb2_grpc.PressurePolicyServiceStub
    consent_as_gateway: consent_pb2_grpc.ConsentServiceStub
    campaigns_as_gateway: campaigns_pb2_grpc.CampaignsServiceStub
    contacts_as_gateway: contacts_pb2_grpc.ContactsServiceStub
    channels: tuple[grpc.Channel, ...] = ()

    @classmethod
    def over(
        cls,
        contacts: grpc.Channel,
        consent: grpc.Channel,
        campaigns: grpc.Channel,
        consent_as_gateway: grpc.Channel,
        campaigns_as_gateway: grpc.Channel,
        contacts_as_gateway: grpc.Channel,
    ) -> Clients:
        """Stubs over channels that already add tokens and deadlines."""
        return cls(
            contacts=contacts_pb2_grpc.ContactsServiceStub(contacts),
            consent=consent_pb2_grpc.ConsentServiceStub(consent),
            campaigns=campaigns_pb2_grpc.CampaignsServiceStub(campaigns),
            interactions=interactions_pb2_grpc.InteractionsServiceStub(campaigns),
            pressure=pressure_pb2_grpc.PressurePolicyServiceStub(campaigns),
            consent_as_gateway=consent_pb2_grpc.ConsentServiceStub(consent_as_gateway),
            campaigns_as_gateway=campaigns_pb2_grpc.CampaignsServiceStub(campaigns_as_gateway),
            contacts_as_gateway=contacts_pb2_grpc.ContactsServiceStub(contacts_as_gateway),
            channels=(
                contacts,
                consent,
                campaigns,
                consent_as_gateway,
                campaigns_as_gateway,
                contacts_as_gateway,
            ),
        )

    def close(self) -> None:
        """Closes every channel (at shutdown)."""
        for channel in self.channels:
            channel.close()


def open_clients(settings: GatewaySettings) -> Clients:
    """Channels to the three services; nothing connects until the first call."""
    timeout = settings.rpc_timeout_seconds
    gateway = settings.service_identity("gateway")
    tls = settings.channel_credentials()
    return Clients.over(
        contacts=open_channel(settings.contacts_target, forwarded_token, timeout, tls),
        consent=open_channel(settings.consent_target, forwarded_token, timeout, tls),
        campaigns=open_channel(settings.campaigns_target, forwarded_token, timeout, tls),
        consent_as_gateway=open_channel(settings.consent_target, gateway.token, timeout, tls),
        campaigns_as_gateway=open_channel(settings.campaigns_target, gateway.token, timeout, tls),
        contacts_as_gateway=open_channel(settings.contacts_target, gateway.token, timeout, tls),
    )


def upstream() -> Clients:
    """The stubs of the app serving this request."""
    clients: Clients = current_app.extensions[EXTENSION]
    return clients
