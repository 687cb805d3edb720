"""The parts of the mesh a privacy request waits for, as small interfaces.

Each call either returns, or raises a meshkit DomainError: `Unavailable` when
the part did not answer (the step is tried again later), another error when it
answered no. Contacts is reached over gRPC here; campaigns' ExportContact and
EraseContact and the suppression list's Suppress are wired by the composition
root once they exist (until then `Unwired` keeps those steps waiting, so an
erasure is never reported done while a part still holds data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import grpc
from google.protobuf import json_format

from meshkit.db import Database
from meshkit.errors import DomainError, Unavailable
from meshkit.fields import EMAIL_FIELDS
from meshkit.grpc_client import domain_error
from protos.crm.campaigns.v1 import campaigns_pb2, campaigns_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.consent import repository, suppression

log = logging.getLogger(__name__)

ERASED = "erased"  # the reason an erased person's addresses are suppressed for


class ContactsPrivacy(Protocol):
    """ContactsService's data-protection RPCs, called as the consent service."""

    def export(self, contact_id: str) -> dict[str, Any]:
        """The contacts part of an access export (JSON-ready)."""
        ...

    def addresses(self, contact_id: str) -> list[str]:
        """Every e-mail address contacts holds for the contact, any component's."""
        ...

    def erase(self, contact_id: str) -> None: ...

    def rectify(
        self, contact_id: str, owner: str, values: Mapping[str, str], clear: Sequence[str]
    ) -> None: ...


class CampaignsPrivacy(Protocol):
    """CampaignsService ExportContact and EraseContact (services only)."""

    def export(self, contact_id: str) -> dict[str, Any]: ...

    def erase(self, contact_id: str) -> None: ...


class SuppressionList(Protocol):
    """The suppression list's Suppress(addresses, reason): keyed hashes, never addresses."""

    def suppress(self, addresses: Sequence[str], reason: str) -> None: ...


class GrpcContactsPrivacy:
    """ContactsService over a channel carrying consent's service identity and deadline."""

    def __init__(self, channel: grpc.Channel):
        self._stub = contacts_pb2_grpc.ContactsServiceStub(channel)

    def export(self, contact_id: str) -> dict[str, Any]:
        reply = self._call("ExportContact", contacts_pb2.ExportContactRequest(id=contact_id))
        return {
            "id": reply.id,
            "kind": contacts_pb2.ContactKind.Name(reply.kind).removeprefix("CONTACT_KIND_").lower(),
            "member_components": sorted(reply.member_components),
            "values": [
                {
                    "field": v.field,
                    "owner_component": v.owner_component,
                    "value": v.value,
                    "updated_at": v.updated_at,
                    "updated_by": v.updated_by,
                }
                for v in reply.values
            ],
            "changes": [
                {
                    "action": c.action,
                    "subject": c.subject,
                    "component": c.component or None,
                    "fields": list(c.fields),
                    "at": c.at,
                }
                for c in reply.changes
            ],
            "merged_ids": sorted(reply.merged_ids),
        }

    def addresses(self, contact_id: str) -> list[str]:
        reply = self._call("ExportContact", contacts_pb2.ExportContactRequest(id=contact_id))
        return sorted({v.value for v in reply.values if v.field in EMAIL_FIELDS and v.value})

    def erase(self, contact_id: str) -> None:
        self._call("EraseContact", contacts_pb2.EraseContactRequest(id=contact_id))

    def rectify(
        self, contact_id: str, owner: str, values: Mapping[str, str], clear: Sequence[str]
    ) -> None:
        request = contacts_pb2.RectifyContactRequest(
            id=contact_id, owner_component=owner, set=dict(values), clear=list(clear)
        )
        self._call("RectifyContact", request)

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request)
        except grpc.RpcError as error:
            mapped = domain_error(error)
            # The code only: a message from upstream is not ours to log.
            log.warning("contacts %s: %s", method, mapped.grpc_code)
            raise mapped from None


class GrpcCampaignsPrivacy:
    """CampaignsService ExportContact and EraseContact, as the consent service."""

    def __init__(self, channel: grpc.Channel):
        self._stub = campaigns_pb2_grpc.CampaignsServiceStub(channel)

    def export(self, contact_id: str) -> dict[str, Any]:
        request = campaigns_pb2.ExportContactRequest(contact_id=contact_id)
        reply = _call("campaigns", self._stub.ExportContact, request)
        # Empty lists stay in the document: "no deliveries" is said, not left out.
        return json_format.MessageToDict(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    def erase(self, contact_id: str) -> None:
        _call(
            "campaigns",
            self._stub.EraseContact,
            campaigns_pb2.EraseContactRequest(contact_id=contact_id),
        )


class LocalSuppression:
    """The suppression list is consent's own: an erasure lists the addresses in process."""

    def __init__(self, database: Database, secret: bytes, clock: Callable[[], datetime]):
        self._database = database
        self._secret = secret
        self._clock = clock

    def suppress(self, addresses: Sequence[str], reason: str) -> None:
        hashes = suppression.item_hashes(self._secret, addresses)
        with self._database.transaction() as session:
            repository.suppress(session, [h for h in hashes if h], reason, self._clock())


def _call(part: str, method: Any, request: Any) -> Any:
    try:
        return method(request)
    except grpc.RpcError as error:
        mapped = domain_error(error)
        log.warning("%s %s: %s", part, type(request).__name__, mapped.grpc_code)
        raise mapped from None


class Unwired:
    """A part this deployment has not connected yet: every call is 'not answered'."""

    def __init__(self, part: str):
        self._part = part

    def export(self, contact_id: str) -> dict[str, Any]:
        raise self._waiting()

    def erase(self, contact_id: str) -> None:
        raise self._waiting()

    def suppress(self, addresses: Sequence[str], reason: str) -> None:
        raise self._waiting()

    def _waiting(self) -> DomainError:
        log.warning("privacy requests: %s is not wired in this deployment", self._part)
        return Unavailable(f"{self._part} is not connected: the step waits")
