"""Campaigns through the gateway, scoped by the forwarded token (when campaigns exists)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, B, Gateway, problem, refuses_bad_pages, walk

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


def _call(gateway: Gateway, token: str, method: str, path: str, body: object = None) -> Any:
    return gateway.api.call(method, path, token, body)


def test_a_draft_is_patched_unscheduled_and_cancelled_and_another_component_gets_404(
    gateway: Gateway,
) -> None:
    a_token, b_token = gateway.keys.manager(A), gateway.keys.manager(B)
    body = {
        **CAMPAIGN,
        "priority": 7,
        "deadline": "2099-06-01T00:00:00+02:00",
        "over_budget": "drop",
        "html_body_template": "<p>Bonjour {{ first_name }}</p>",
    }
    created = _call(gateway, a_token, "POST", "/v1/campaigns", body)
    assert created.status == 201, created.text
    campaign = created.json
    assert (campaign["priority"], campaign["over_budget"]) == (7, "drop")
    assert campaign["deadline"] == "2099-05-31T22:00:00Z"
    assert campaign["html_body_template"] == body["html_body_template"]
    path = f"/v1/campaigns/{campaign['id']}"

    patched = _call(gateway, a_token, "PATCH", path, {"name": "Rentrée v2", "deadline": None})
    assert patched.status == 200, patched.text
    assert patched.json["name"] == "Rentrée v2" and "deadline" not in patched.json
    assert patched.json["priority"] == 7  # absent: unchanged
    bad = problem(_call(gateway, a_token, "PATCH", path, {"priority": 11}), 400)
    assert {e["field"] for e in bad["errors"]} == {"priority"}

    for method, suffix, step_body in (
        ("PATCH", "", {"name": "Theirs"}),
        ("POST", "/unschedule", {}),
        ("POST", "/pause", None),
        ("POST", "/resume", {}),
        ("POST", "/cancel", {}),
        ("POST", "/test-send", {}),
    ):
        problem(_call(gateway, b_token, method, path + suffix, step_body), 404)

    for suffix in ("/unschedule", "/pause", "/resume"):  # not allowed from draft
        refused = problem(_call(gateway, a_token, "POST", path + suffix, {}), 409)
        assert refused["detail"].startswith("the campaign is draft;")
    schedule = {"send_at": "2099-01-01T08:00:00Z"}
    assert _call(gateway, a_token, "POST", path + "/schedule", schedule).status == 200
    unscheduled = _call(gateway, a_token, "POST", path + "/unschedule")
    assert unscheduled.status == 200, unscheduled.text
    assert unscheduled.json["status"] == "draft" and "send_at" not in unscheduled.json

    cancelled = _call(gateway, a_token, "POST", path + "/cancel")
    assert cancelled.status == 200, cancelled.text
    assert cancelled.json["status"] == "cancelled"
    for method, suffix, step_body in (
        ("PATCH", "", {"name": "Late"}),
        ("POST", "/cancel", {}),
        ("POST", "/send", {}),
        ("POST", "/test-send", {}),
    ):
        problem(_call(gateway, a_token, method, path + suffix, step_body), 409)
    assert _call(gateway, a_token, "GET", path).json["name"] == "Rentrée v2"


def test_a_running_campaign_is_paused_resumed_then_cancelled_and_every_row_decided(
    gateway: Gateway,
) -> None:
    token = gateway.keys.manager(A)
    # Ids no contact has: each is decided not_member, batch after batch, long enough to act.
    ids = [f"nobody-{uuid.uuid4().hex[:6]}-{i}" for i in range(20_000)]
    body = {**CAMPAIGN, "audience": {"contact_ids": ids}}
    campaign = _call(gateway, token, "POST", "/v1/campaigns", body).json
    path = f"/v1/campaigns/{campaign['id']}"
    assert _call(gateway, token, "POST", path + "/send").status == 202
    paused = _call(gateway, token, "POST", path + "/pause")
    assert paused.status == 200, paused.text
    assert paused.json["status"] == "paused"
    problem(_call(gateway, token, "PATCH", path, {"name": "Too late"}), 409)
    problem(_call(gateway, token, "POST", path + "/pause"), 409)
    resumed = _call(gateway, token, "POST", path + "/resume")
    assert resumed.status == 200 and resumed.json["status"] == "running", resumed.text
    cancelled = _call(gateway, token, "POST", path + "/cancel")
    assert cancelled.status == 200, cancelled.text
    assert cancelled.json["status"] == "cancelled"
    counts = cancelled.json["outcome_counts"]
    assert counts.get("cancelled", 0) > 0
    assert set(counts) <= {"cancelled", "not_member", "pending"}
    assert sum(counts.values()) == len(ids)


def test_a_test_send_needs_an_email_claim_and_goes_to_it(gateway: Gateway) -> None:
    manager = gateway.keys.manager(A)
    with_email = gateway.keys.manager(A, email=f"ana.{uuid.uuid4().hex[:6]}@example.org")
    campaign = _call(gateway, manager, "POST", "/v1/campaigns", CAMPAIGN).json
    path = f"/v1/campaigns/{campaign['id']}/test-send"
    refused = problem(_call(gateway, manager, "POST", path, {}), 409)
    assert "email" in refused["detail"]
    bad = problem(_call(gateway, with_email, "POST", path, {"sample_contact_id": ""}), 400)
    assert {e["field"] for e in bad["errors"]} == {"sample_contact_id"}
    # This mesh has no SMTP relay of its own (the campaigns tests have one): the mail was
    # addressed and recorded as a transactional test send, then the relay was not there.
    problem(_call(gateway, with_email, "POST", path), 503)
    with gateway.databases["campaigns"].connect() as connection:
        rows = connection.execute(
            text(
                "SELECT message_class, kind, campaign_id FROM deliveries"
                " WHERE idempotency_key LIKE :key"
            ),
            {"key": f"test-send:{campaign['id']}:%"},
        ).all()
    assert [tuple(row) for row in rows] == [("transactional", "test_send", None)]


def test_campaigns_are_paged_newest_first_and_stable_under_inserts(gateway: Gateway) -> None:
    component = f"pages{uuid.uuid4().hex[:8]}"
    created = gateway.api.call(
        "POST", "/v1/components", gateway.keys.admin(), {"id": component, "name": "Pages"}
    )
    assert created.status == 201, created.text
    manager = gateway.keys.manager(component)
    made = [_call(gateway, manager, "POST", "/v1/campaigns", CAMPAIGN).json["id"] for _ in range(4)]
    everything = walk(gateway.api, "/v1/campaigns", manager, "campaigns", 1000)
    assert sorted(c["id"] for c in everything) == sorted(made)
    order = [(c["created_at"], c["id"]) for c in everything]
    assert order == sorted(order, reverse=True)  # newest first, ties by id
    for size in range(1, len(made) + 1):
        assert walk(gateway.api, "/v1/campaigns", manager, "campaigns", size) == everything

    first = gateway.api.call("GET", "/v1/campaigns?page_size=2", manager)
    newer = _call(gateway, manager, "POST", "/v1/campaigns", CAMPAIGN).json["id"]
    rest = walk(
        gateway.api,
        f"/v1/campaigns?page_token={first.json['next_page_token']}",
        manager,
        "campaigns",
        2,
    )
    # The campaign created between two pages sorts before the position: nothing repeats or
    # goes missing among those listed before it.
    assert [c["id"] for c in first.json["campaigns"] + rest] == [c["id"] for c in everything]
    assert walk(gateway.api, "/v1/campaigns", manager, "campaigns", 3)[0]["id"] == newer

    components = gateway.api.call("GET", "/v1/components?page_size=1", manager)
    refuses_bad_pages(gateway.api, "/v1/campaigns", manager, components.json["next_page_token"])
    for _ in range(2):
        _call(gateway, gateway.keys.manager(A), "POST", "/v1/campaigns", CAMPAIGN)
    other = gateway.api.call("GET", "/v1/campaigns?page_size=1", gateway.keys.manager(A))
    # A token is bound to the component listed: A's position means nothing to another.
    body = problem(
        gateway.api.call(
            "GET", f"/v1/campaigns?page_token={other.json['next_page_token']}", manager
        ),
        400,
    )
    assert [e["field"] for e in body["errors"]] == ["page_token"]
