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
    contact = gateway.api.call("POST", "/v1/contacts", a_token, {"kind": "person", "email": email})
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
