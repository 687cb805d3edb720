"""A one-click unsubscribe link followed again and again: 200 each time, one event.

Mail clients and scanners replay RFC 8058 POSTs; the person may click twice.
Replays, one after the other or at once, add nothing to the consent history;
a new grant makes the next unsubscribe a new act.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from tests.integration.gateway.harness import UNSUBSCRIBE_SECRET, A, B, Gateway
from tests.support.mesh import Reply

GRANT = {
    "channel": "email",
    "purpose": "newsletter",
    "scope": "component",
    "source": "web-form",
    "text_shown": "I agree to receive the newsletter.",
}


@pytest.fixture
def contact_id(gateway: Gateway) -> str:
    """A contact both A and B know (consent reads need membership)."""
    body = {"kind": "person", "fields": {"email": f"{uuid.uuid4().hex[:12]}@example.org"}}
    reply = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(A), body)
    assert reply.status == 201, reply.text
    joined = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(B), body)
    assert joined.json["contact"]["id"] == reply.json["contact"]["id"], joined.text
    return str(reply.json["contact"]["id"])


def link(contact_id: str, campaign: str = "campaign-replay") -> str:
    token = UnsubscribeTokens(UNSUBSCRIBE_SECRET).sign(
        UnsubscribeRequest(contact_id, "newsletter", campaign)
    )
    return f"/unsubscribe/{token}"


def one_click(gateway: Gateway, path: str) -> Reply:
    return gateway.api.call(
        "POST",
        path,
        raw=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )


def grant(gateway: Gateway, contact_id: str) -> None:
    reply = gateway.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(A), GRANT
    )
    assert reply.status == 201, reply.text


def actions(gateway: Gateway, contact_id: str, component: str = A) -> list[str]:
    reply = gateway.api.call(
        "GET", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(component)
    )
    assert reply.status == 200, reply.text
    events: list[dict[str, Any]] = reply.json["events"]
    return [e["action"] for e in events]


def test_three_replays_answer_200_and_record_one_withdrawal(
    gateway: Gateway, contact_id: str
) -> None:
    grant(gateway, contact_id)
    path = link(contact_id)
    for _ in range(3):
        reply = one_click(gateway, path)
        assert reply.status == 200, reply.text
        assert reply.json == {"status": "unsubscribed", "purpose": "newsletter"}
    assert actions(gateway, contact_id) == ["grant", "withdraw"]
    assert actions(gateway, contact_id, B) == ["withdraw"]


def test_concurrent_replays_record_one_withdrawal(gateway: Gateway, contact_id: str) -> None:
    grant(gateway, contact_id)
    path = link(contact_id)
    replays = 6
    barrier = threading.Barrier(replays)

    def replay() -> int:
        barrier.wait(timeout=30)
        return one_click(gateway, path).status

    with ThreadPoolExecutor(max_workers=replays) as pool:
        statuses = list(pool.map(lambda _: replay(), range(replays)))
    assert statuses == [200] * replays
    assert actions(gateway, contact_id) == ["grant", "withdraw"]


def test_grant_unsubscribe_grant_unsubscribe_is_four_events(
    gateway: Gateway, contact_id: str
) -> None:
    path = link(contact_id)
    for _ in range(2):
        grant(gateway, contact_id)
        assert one_click(gateway, path).status == 200
        assert one_click(gateway, path).status == 200  # the replay adds nothing
    assert actions(gateway, contact_id) == ["grant", "withdraw", "grant", "withdraw"]


def test_a_signed_link_for_no_contact_records_nothing(gateway: Gateway) -> None:
    """Unlikely (campaigns signs links for contacts it resolved), but it must write nothing."""
    unknown = str(uuid.uuid4())
    reply = one_click(gateway, link(unknown))
    assert reply.status == 404, reply.text  # final: a mail client must not retry it
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    # Staff would get 404 (no component is a member of no one): ask consent as a service.
    with grpc.insecure_channel(gateway.targets["consent"]) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = (("authorization", f"Bearer {gateway.keys.service()}"),)
        history = stub.GetHistory(
            consent_pb2.GetHistoryRequest(contact_id=unknown), metadata=metadata, timeout=10
        )
    assert list(history.events) == []
