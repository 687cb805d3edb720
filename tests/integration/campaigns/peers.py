"""Stand-ins for the contacts and consent services, served over real gRPC, and an SMTP sink.

They answer only the calls campaigns makes (ResolveRecipients, ListContacts,
CheckBatch) from tables the test fills, and record every request, so tests can
check that checks are batched (one call per batch) and made under the
service identity.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import grpc
from aiosmtpd.controller import Controller

from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from tests.support.processes import free_port


@dataclass
class Person:
    components: set[str]
    email: str = ""
    merge_fields: dict[str, str] = field(default_factory=dict)


class Contacts(contacts_pb2_grpc.ContactsServiceServicer):
    def __init__(self) -> None:
        self.people: dict[str, Person] = {}
        self.resolve_calls: list[contacts_pb2.ResolveRecipientsRequest] = []
        self.list_calls: list[contacts_pb2.ListContactsRequest] = []
        self.authorizations: list[str] = []
        self.unavailable = False
        self.page_limit = 2  # like a server that caps page sizes

    def ResolveRecipients(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._note(context)
        if self.unavailable:
            context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        self.resolve_calls.append(request)
        reply = contacts_pb2.ResolveRecipientsResponse()
        for contact_id in request.contact_ids:
            person = self.people.get(contact_id)
            if person is None:
                reply.recipients.add(
                    contact_id=contact_id, reachability=contacts_pb2.REACHABILITY_NOT_FOUND
                )
            elif request.component_id not in person.components:
                reply.recipients.add(
                    contact_id=contact_id, reachability=contacts_pb2.REACHABILITY_NOT_MEMBER
                )
            elif not person.email:
                reply.recipients.add(
                    contact_id=contact_id, reachability=contacts_pb2.REACHABILITY_NO_EMAIL
                )
            else:
                reply.recipients.add(
                    contact_id=contact_id,
                    reachability=contacts_pb2.REACHABILITY_OK,
                    email=person.email,
                    time_zone="Europe/Paris",
                    merge_fields=person.merge_fields,
                )
        return reply

    def ListContacts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._note(context)
        self.list_calls.append(request)
        members = sorted(c for c, p in self.people.items() if request.member_of in p.components)
        start = int(request.page_token or 0)
        size = min(request.page_size or 100, self.page_limit)
        page = members[start : start + size]
        token = str(start + size) if start + size < len(members) else ""
        return contacts_pb2.ListContactsResponse(
            contacts=[contacts_pb2.Contact(id=c) for c in page], next_page_token=token
        )

    def _note(self, context: grpc.ServicerContext) -> None:
        self.authorizations.append(dict(context.invocation_metadata()).get("authorization", ""))


class Consent(consent_pb2_grpc.ConsentServiceServicer):
    def __init__(self) -> None:
        # Contact id -> decision; anything absent has consent.
        self.decisions: dict[str, int] = {}
        self.calls: list[consent_pb2.CheckBatchRequest] = []

    def CheckBatch(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.append(request)
        reply = consent_pb2.CheckBatchResponse()
        for contact_id in request.contact_ids:
            decision = self.decisions.get(contact_id, consent_pb2.DECISION_CONSENT_GIVEN)
            allowed = decision in (
                consent_pb2.DECISION_CONSENT_GIVEN,
                consent_pb2.DECISION_LEGITIMATE_INTEREST,
            )
            reply.results.add(contact_id=contact_id, allowed=allowed, decision=decision)
        return reply


@dataclass
class Peers:
    target: str
    contacts: Contacts
    consent: Consent


@contextmanager
def serve_peers() -> Iterator[Peers]:
    """Both stand-ins on one gRPC server on a free port."""
    contacts, consent = Contacts(), Consent()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    contacts_pb2_grpc.add_ContactsServiceServicer_to_server(contacts, server)
    consent_pb2_grpc.add_ConsentServiceServicer_to_server(consent, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield Peers(f"127.0.0.1:{port}", contacts, consent)
    finally:
        server.stop(0)


class Sink:
    """aiosmtpd handler: keeps accepted mail; refuses recipients listed in `refuse`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 no such user"
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    """A real SMTP server (aiosmtpd) on a free port."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
