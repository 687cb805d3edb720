"""The contacts service as consent asks it: which contact ids exist, and their member
components (one call per batch)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import grpc

from meshkit.errors import DomainError, Unavailable
from meshkit.grpc_client import domain_error
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc

log = logging.getLogger(__name__)

# The most ids ExistingContacts takes in one call.
BATCH = 1000


class ContactDirectory(Protocol):
    """Which of these ids name a contact, and the components each is a member of;
    raises Unavailable when that cannot be known."""

    def members(self, contact_ids: Sequence[str]) -> dict[str, frozenset[str]]: ...


class GrpcContacts:
    """ContactsService.ExistingContacts over a channel that carries consent's identity."""

    def __init__(self, channel: grpc.Channel):
        self._stub = contacts_pb2_grpc.ContactsServiceStub(channel)

    def existing(self, contact_ids: Sequence[str]) -> set[str]:
        """The ids among these that name a contact."""
        return set(self.members(contact_ids))

    def members(self, contact_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        found: dict[str, frozenset[str]] = {}
        for start in range(0, len(contact_ids), BATCH):
            request = contacts_pb2.ExistingContactsRequest(ids=contact_ids[start : start + BATCH])
            try:
                reply = self._stub.ExistingContacts(request)
            except grpc.RpcError as error:
                raise _unverified(error) from None
            found.update({c.id: frozenset(c.member_components) for c in reply.contacts})
        return found


def _unverified(error: grpc.RpcError) -> DomainError:
    """Unavailable when contacts did not answer; otherwise a bare internal error.

    A refusal from contacts (a token it does not trust, say) is this service's
    misconfiguration, not the caller's fault: it is logged, never passed on.
    """
    mapped = domain_error(error)
    if isinstance(mapped, Unavailable):
        return Unavailable("the contacts service did not answer; nothing was recorded")
    log.error("contacts refused ExistingContacts: %s", error.code())  # type: ignore[attr-defined]
    return DomainError("the contact could not be verified")
