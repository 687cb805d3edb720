"""Outbound calls to contacts and consent, one per batch, returned as plain values."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from meshkit.errors import Unavailable
from meshkit.grpc_client import domain_error
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.campaigns.policy import CataloguePurpose, ConsentDecision, Reachability

log = logging.getLogger(__name__)

# Ids per AudienceIds call (contacts serves at most 10,000).
AUDIENCE_PAGE = 5000
# Items per CheckBatch call (consent answers at most 10,000).
CONSENT_BATCH = 10_000
# How long the purposes catalogue read from consent is trusted.
PURPOSES_TTL_SECONDS = 5.0
PURPOSES_PAGE = 1000  # the largest page ListPurposes serves


@dataclass(frozen=True)
class Recipient:
    """What contacts lets the sending component know about one recipient."""

    contact_id: str
    reachability: Reachability
    email: str = ""
    merge_fields: Mapping[str, str] = field(default_factory=dict)
    professional_address: bool = False  # a business contact at its work address
    time_zone: str = ""  # IANA zone of the contact, for quiet hours ("" = the policy's default)


@dataclass(frozen=True)
class ConsentAnswer:
    contact_id: str
    allowed: bool
    decision: ConsentDecision


class Directory(Protocol):
    """The contacts service as campaigns sees it."""

    def resolve(
        self, component: str, purpose: str, contact_ids: Sequence[str], fields: Sequence[str] = ()
    ) -> list[Recipient]:
        """Reachability and merge fields of each contact, for the component."""
        ...

    def member_ids(self, component: str) -> Iterator[str]:
        """Ids of every contact the component is a member of."""
        ...


class ConsentGate(Protocol):
    """The consent service as campaigns sees it."""

    def check(
        self, component: str, purpose: str, recipients: Sequence[Recipient]
    ) -> list[ConsentAnswer]:
        """The email consent decision of each recipient for the purpose and component."""
        ...


class PurposeCatalogue(Protocol):
    """Consent's catalogue of purposes, as campaigns sees it."""

    def find(self, key: str) -> CataloguePurpose | None:
        """The purpose with this key (active or not); None when the catalogue has none."""
        ...


_REACHABILITY = {
    contacts_pb2.REACHABILITY_OK: Reachability.OK,
    contacts_pb2.REACHABILITY_NOT_MEMBER: Reachability.NOT_MEMBER,
    contacts_pb2.REACHABILITY_NO_EMAIL: Reachability.NO_EMAIL,
}

_DECISIONS = {
    consent_pb2.Decision.Value(f"DECISION_{decision.name}"): decision
    for decision in ConsentDecision
}


class GrpcDirectory:
    """ContactsService over a channel that carries the service identity and a deadline."""

    def __init__(self, channel: grpc.Channel, audience_page: int = AUDIENCE_PAGE):
        self._stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        self._audience_page = audience_page

    def resolve(
        self, component: str, purpose: str, contact_ids: Sequence[str], fields: Sequence[str] = ()
    ) -> list[Recipient]:
        request = contacts_pb2.ResolveRecipientsRequest(
            component_id=component,
            purpose=purpose,
            contact_ids=list(contact_ids),
            fields=list(fields),
        )
        try:
            reply = self._stub.ResolveRecipients(request)
        except grpc.RpcError as error:
            raise domain_error(error) from None
        answered = {r.contact_id: r for r in reply.recipients}
        # Deny by default: an id contacts did not answer for is treated as unknown.
        return [_recipient(answered.get(c), c) for c in contact_ids]

    def member_ids(self, component: str) -> Iterator[str]:
        token = ""
        while True:
            request = contacts_pb2.AudienceIdsRequest(
                component_id=component, page_size=self._audience_page, page_token=token
            )
            try:
                reply = self._stub.AudienceIds(request)
            except grpc.RpcError as error:
                raise domain_error(error) from None
            yield from reply.ids
            token = reply.next_page_token
            if not token:
                return

    def members(self, contact_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """ExistingContacts: the ids among these that name a contact, with its member components.

        A merged id is answered with its survivor's members; an unknown id is absent.
        """
        found: dict[str, frozenset[str]] = {}
        ids = list(contact_ids)
        for start in range(0, len(ids), EXISTING_BATCH):
            request = contacts_pb2.ExistingContactsRequest(ids=ids[start : start + EXISTING_BATCH])
            try:
                reply = self._stub.ExistingContacts(request)
            except grpc.RpcError as error:
                raise domain_error(error) from None
            found.update({c.id: frozenset(c.member_components) for c in reply.contacts})
        return found


def _recipient(found: contacts_pb2.Recipient | None, contact_id: str) -> Recipient:
    if found is None:
        return Recipient(contact_id, Reachability.NOT_MEMBER)
    reachability = _REACHABILITY.get(found.reachability, Reachability.NOT_MEMBER)
    if reachability is not Reachability.OK:
        return Recipient(contact_id, reachability)
    return Recipient(
        contact_id,
        reachability,
        found.email,
        dict(found.merge_fields),
        found.professional_address,
        found.time_zone,
    )


class GrpcConsentGate:
    """ConsentService.CheckBatch for the email channel, in batches of at most 10,000."""

    def __init__(self, channel: grpc.Channel, batch: int = CONSENT_BATCH):
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)
        self._batch = batch

    def check(
        self, component: str, purpose: str, recipients: Sequence[Recipient]
    ) -> list[ConsentAnswer]:
        answered: dict[str, consent_pb2.CheckResult] = {}
        for start in range(0, len(recipients), self._batch):
            request = consent_pb2.CheckBatchRequest(
                component_id=component,
                channel=consent_pb2.CHANNEL_EMAIL,
                purpose=purpose,
                items=[
                    consent_pb2.CheckItem(
                        contact_id=r.contact_id,
                        address=r.email,
                        professional_address=r.professional_address,
                    )
                    for r in recipients[start : start + self._batch]
                ],
            )
            try:
                reply = self._stub.CheckBatch(request)
            except grpc.RpcError as error:
                raise domain_error(error) from None
            answered.update({r.contact_id: r for r in reply.results})
        return [_answer(answered.get(r.contact_id), r.contact_id) for r in recipients]


def _answer(found: consent_pb2.CheckResult | None, contact_id: str) -> ConsentAnswer:
    if found is None:  # no answer is no consent
        return ConsentAnswer(contact_id, False, ConsentDecision.NO_CONSENT)
    decision = _DECISIONS.get(found.decision, ConsentDecision.NO_CONSENT)
    return ConsentAnswer(contact_id, found.allowed, decision)


class GrpcPurposeCatalogue:
    """ConsentService.ListPurposes (inactive ones too), kept `ttl_seconds`.

    A key the cached catalogue lacks is asked again once (an admin may have just
    added it). When consent cannot answer and the cache is too old, `find` raises
    Unavailable: a campaign is never created on a purpose nobody could check.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        ttl_seconds: float = PURPOSES_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._purposes: dict[str, CataloguePurpose] = {}
        self._fetched_at = float("-inf")

    def find(self, key: str) -> CataloguePurpose | None:
        with self._lock:
            now = self._clock()
            if now - self._fetched_at >= self._ttl:
                self._refresh(now)
            elif key not in self._purposes and self._fetched_at < now:
                self._refresh(now)
            return self._purposes.get(key)

    def _refresh(self, now: float) -> None:
        purposes: dict[str, CataloguePurpose] = {}
        token = ""
        while True:  # the whole catalogue, a page at a time (one page in practice)
            request = consent_pb2.ListPurposesRequest(
                include_inactive=True, page_size=PURPOSES_PAGE, page_token=token
            )
            try:
                reply = self._stub.ListPurposes(request)
            except grpc.RpcError as error:
                # Whatever consent answered, the caller's request is not at fault: 503, retry.
                log.warning("purposes catalogue not read: consent answered %s", error.code())  # type: ignore[attr-defined]
                raise Unavailable("the consent purposes catalogue cannot be read now") from None
            purposes |= {p.key: _purpose(p) for p in reply.purposes}
            token = reply.next_page_token
            if not token:
                break
        self._purposes = purposes
        self._fetched_at = now


def _purpose(message: consent_pb2.Purpose) -> CataloguePurpose:
    channels = frozenset(
        consent_pb2.Channel.Name(c).removeprefix("CHANNEL_").lower() for c in message.channels
    )
    return CataloguePurpose(message.key, message.active, channels)


# Ids per ExistingContacts call (contacts answers at most 1,000).
EXISTING_BATCH = 1000


class MemberDirectory(Protocol):
    """Contacts as the interaction history asks it: who is a member of a contact."""

    def members(self, contact_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """The ids among these that name a contact, each with its member components."""
        ...
