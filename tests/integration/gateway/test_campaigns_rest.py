"""Campaigns through the gateway, scoped by the forwarded token (when campaigns exists)."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, B, Gateway, problem

pytestmark = pytest.mark.skipif(
    not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
)


def test_a_campaign_is_seen_by_its_component_only(gateway: Gateway) -> None:
    a_token, b_token = gateway.keys.manager(A), gateway.keys.manager(B)
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    contact = gateway.api.call(
        "POST", "/v1/contacts", a_token, {"kind": "person", "fields": {"email": email}}
    )
    assert contact.status == 201, contact.text
    body = {
        "name": "Rentrée",
        "purpose": "newsletter",
        "subject_template": "Bonjour {{ first_name }}",
        "body_template": "À bientôt.",
        "audience": {"contact_ids": [contact.json["contact"]["id"]]},
    }
    created = gateway.api.call("POST", "/v1/campaigns", a_token, body)
    assert created.status == 201, created.text
    campaign = created.json
    assert campaign["owner_component"] == A
    assert campaign["status"] == "draft"
    assert campaign["audience"] == body["audience"]
    assert campaign["created_at"].endswith("Z")

    read = gateway.api.call("GET", f"/v1/campaigns/{campaign['id']}", a_token)
    assert read.status == 200 and read.json["id"] == campaign["id"]
    assert campaign["id"] in {
        c["id"] for c in gateway.api.call("GET", "/v1/campaigns", a_token).json["campaigns"]
    }

    problem(gateway.api.call("GET", f"/v1/campaigns/{campaign['id']}", b_token), 404)
    assert campaign["id"] not in {
        c["id"] for c in gateway.api.call("GET", "/v1/campaigns", b_token).json["campaigns"]
    }
    schedule = {"send_at": "2099-01-01T08:00:00+02:00"}
    refused = gateway.api.call(
        "POST", f"/v1/campaigns/{campaign['id']}/schedule", b_token, schedule
    )
    assert refused.status in (403, 404), refused.text

    scheduled = gateway.api.call(
        "POST", f"/v1/campaigns/{campaign['id']}/schedule", a_token, schedule
    )
    assert scheduled.status == 200, scheduled.text
    assert scheduled.json["status"] == "scheduled"
    assert scheduled.json["send_at"] == "2099-01-01T06:00:00Z"

    deliveries = gateway.api.call("GET", f"/v1/campaigns/{campaign['id']}/deliveries", a_token)
    assert deliveries.status == 200, deliveries.text
    assert "next_page_token" in deliveries.json


CAMPAIGN = {
    "name": "Rentrée",
    "purpose": "newsletter",
    "subject_template": "Bonjour {{ first_name }}",
    "body_template": "À bientôt.",
    "audience": {"contact_ids": ["c-1"]},
}


def _listed(gateway: Gateway, token: str) -> list[dict[str, object]]:
    reply = gateway.api.call("GET", "/v1/campaigns", token)
    assert reply.status == 200, reply.text
    campaigns: list[dict[str, object]] = reply.json["campaigns"]
    return campaigns


@pytest.mark.parametrize("roles", [["staff"], []], ids=["staff", "no role"])
def test_campaign_writes_need_campaign_manager_and_write_nothing(
    gateway: Gateway, roles: list[str]
) -> None:
    manager = gateway.keys.manager(A)
    staff = gateway.keys.issuer.mint(f"bob@{A}", component=A, roles=roles)
    draft = gateway.api.call("POST", "/v1/campaigns", manager, CAMPAIGN).json
    before = _listed(gateway, manager)
    for method, path, body in (
        ("POST", "/v1/campaigns", CAMPAIGN),
        ("POST", f"/v1/campaigns/{draft['id']}/schedule", {"send_at": "2099-01-01T00:00:00Z"}),
        ("POST", f"/v1/campaigns/{draft['id']}/send", {}),
    ):
        refused = problem(gateway.api.call(method, path, staff, body), 403)
        assert "campaign_manager" in refused["detail"]
    assert _listed(gateway, manager) == before
    # Any token of the component reads its campaigns.
    assert draft["id"] in {c["id"] for c in _listed(gateway, staff)}


@pytest.mark.parametrize(
    "send_at",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2001-01-01T00:00:00Z"],
    ids=["before year 1 in UTC", "after year 9999 in UTC", "past"],
)
def test_a_send_time_out_of_range_or_past_is_400_on_send_at(gateway: Gateway, send_at: str) -> None:
    manager = gateway.keys.manager(A)
    draft = gateway.api.call("POST", "/v1/campaigns", manager, CAMPAIGN).json
    reply = gateway.api.call(
        "POST", f"/v1/campaigns/{draft['id']}/schedule", manager, {"send_at": send_at}
    )
    refused = problem(reply, 400)
    assert {e["field"] for e in refused["errors"]} == {"send_at"}
    after = gateway.api.call("GET", f"/v1/campaigns/{draft['id']}", manager).json
    assert (after["status"], after.get("send_at")) == ("draft", None)
