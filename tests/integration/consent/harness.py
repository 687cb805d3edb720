"""Helpers the consent integration tests share: the running processes and short RPC calls.

Consent records nothing for an id that names no contact, so its tests run a
real contacts process beside it and create the contacts they give consent for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from sqlalchemy import Engine, text

from protos.crm.consent.v1 import consent_pb2 as pb
from protos.crm.consent.v1 import consent_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from tests.support.processes import free_port, service_process, wait_grpc_healthy
from tests.support.stores import fresh_postgres
from tests.support.tokens import TestKeys

TIMEOUT = 10
GROUPING = pb.Scope(grouping=True)
# The component whose manager creates the contacts of these tests.
OWNER = "law"


@contextmanager
def serve(name: str, keys: TestKeys, folder: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """`crm serve <name>` on a fresh PostgreSQL database: yields (target, database URL).

    `settings` are more of the service's own settings, without its prefix.
    """
    prefix = f"{name.upper()}_"
    logs = folder / "logs"
    with fresh_postgres(name) as url:
        target = f"127.0.0.1:{free_port()}"
        env = {
            **keys.env(prefix),
            f"{prefix}LISTEN": target,
            f"{prefix}DATABASE_URL": url,
            **{f"{prefix}{key.upper()}": value for key, value in settings.items()},
            "CRM_HOME": str(folder / "home"),
        }
        with service_process(name, env, logs):
            try:
                wait_grpc_healthy(target)
            except TimeoutError:
                raise AssertionError((logs / f"{name}.log").read_text()) from None
            yield target, url


@dataclass
class RunningContacts:
    """The contacts process consent asks, and a stub that creates contacts as a manager does."""

    target: str
    stub: contacts_pb2_grpc.ContactsServiceStub
    keys: TestKeys

    def add_component(self, component_id: str) -> None:
        request = contacts_pb2.CreateComponentRequest(id=component_id, name=component_id.title())
        self.stub.CreateComponent(
            request, metadata=RunningConsent.auth(self.keys.admin()), timeout=TIMEOUT
        )

    def new_contact(self, *also: str) -> str:
        """A new person of OWNER, joined by the components `also` (creating it with the
        same address); returns the id contacts gave it."""
        request = contacts_pb2.CreateContactRequest(
            kind=contacts_pb2.CONTACT_KIND_PERSON,
            fields={"email": f"{uuid.uuid4().hex[:12]}@example.org"},
        )
        contact_id = ""
        for member in (OWNER, *also):
            reply = self.stub.CreateContact(
                request, metadata=RunningConsent.auth(self.keys.manager(member)), timeout=TIMEOUT
            )
            contact_id = contact_id or str(reply.contact.id)
        return contact_id


@dataclass
class RunningConsent:
    """The process's address, a stub to call it, the keys it trusts, its database and log."""

    target: str
    stub: consent_pb2_grpc.ConsentServiceStub
    channel: grpc.Channel
    keys: TestKeys
    database: Engine
    log: Path
    contacts: RunningContacts | None  # None: its contacts service is down

    @staticmethod
    def auth(token: str) -> list[tuple[str, str]]:
        """Call metadata carrying `token` as bearer."""
        return [("authorization", f"Bearer {token}")]

    def rows(self) -> int:
        """How many consent events the database holds (read directly, not through the API)."""
        with self.database.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM consent_events")).scalar_one())

    def new_contact(self, *also: str) -> str:
        """A contact that exists in the contacts service consent asks (of OWNER, and of
        each component `also`)."""
        assert self.contacts is not None, "this consent process has no contacts service"
        return self.contacts.new_contact(*also)


def component(name: str) -> pb.Scope:
    return pb.Scope(component_id=name)


def change(contact_id: str, scope: pb.Scope, /, **fields: object) -> pb.ConsentChange:
    """A valid e-mail newsletter change, with `fields` overridden."""
    values: dict[str, object] = {
        "contact_id": contact_id,
        "channel": pb.CHANNEL_EMAIL,
        "purpose": "newsletter",
        "scope": scope,
        "source": "web-form",
        "text_shown": "I agree to receive the newsletter.",
    }
    values.update(fields)
    return pb.ConsentChange(**values)  # type: ignore[arg-type]


def grant(consent: RunningConsent, token: str, message: pb.ConsentChange) -> pb.ConsentEvent:
    return consent.stub.Grant(message, metadata=consent.auth(token), timeout=TIMEOUT)


def withdraw(consent: RunningConsent, token: str, message: pb.ConsentChange) -> pb.ConsentEvent:
    return consent.stub.Withdraw(message, metadata=consent.auth(token), timeout=TIMEOUT)


def check(
    consent: RunningConsent, component_id: str, *contact_ids: str, purpose: str = "newsletter"
) -> list[pb.CheckResult]:
    """CheckBatch for e-mail with a service token."""
    request = pb.CheckBatchRequest(
        component_id=component_id,
        channel=pb.CHANNEL_EMAIL,
        purpose=purpose,
        contact_ids=list(contact_ids),
    )
    token = consent.keys.service("campaigns")
    reply = consent.stub.CheckBatch(request, metadata=consent.auth(token), timeout=TIMEOUT)
    return list(reply.results)


def history(consent: RunningConsent, token: str, contact_id: str) -> list[pb.ConsentEvent]:
    request = pb.GetHistoryRequest(contact_id=contact_id)
    reply = consent.stub.GetHistory(request, metadata=consent.auth(token), timeout=TIMEOUT)
    return list(reply.events)
