"""Helpers the consent integration tests share: the running process and short RPC calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
from sqlalchemy import Engine, text

from protos.crm.consent.v1 import consent_pb2 as pb
from protos.crm.consent.v1 import consent_pb2_grpc
from tests.support.tokens import TestKeys

TIMEOUT = 10
GROUPING = pb.Scope(grouping=True)


@dataclass
class RunningConsent:
    """The process's address, a stub to call it, the keys it trusts, its database and log."""

    target: str
    stub: consent_pb2_grpc.ConsentServiceStub
    channel: grpc.Channel
    keys: TestKeys
    database: Engine
    log: Path

    @staticmethod
    def auth(token: str) -> list[tuple[str, str]]:
        """Call metadata carrying `token` as bearer."""
        return [("authorization", f"Bearer {token}")]

    def rows(self) -> int:
        """How many consent events the database holds (read directly, not through the API)."""
        with self.database.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM consent_events")).scalar_one())


def new_contact() -> str:
    return f"contact-{uuid.uuid4().hex[:12]}"


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
