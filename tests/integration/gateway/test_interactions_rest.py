"""The interaction history through the gateway: recorded by staff of a member component, read
by every member with the subject and content left to the recording component alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, B, Gateway, problem

pytestmark = pytest.mark.skipif(
    not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
)

C = "droit"  # a component that is a member of nobody here
MARKER = "MARKER-4b2e"


@pytest.fixture(scope="module")
def shared_contact(gateway: Gateway) -> str:
    """A person both A and B are members of; C is registered but a member of nobody."""
    registered = gateway.api.call(
        "POST", "/v1/components", gateway.keys.admin(), {"id": C, "name": "Droit"}
    )
    assert registered.status in (201, 409), registered.text
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    body = {"kind": "person", "fields": {"email": email}}
    created = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(A), body)
    assert created.status == 201, created.text
    joined = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(B), body)
    assert joined.status in (200, 201) and joined.json["joined_existing"], joined.text
    return str(created.json["contact"]["id"])


def path(contact_id: str, query: str = "") -> str:
    return f"/v1/contacts/{contact_id}/interactions" + (f"?{query}" if query else "")


def test_a_member_sees_the_call_without_its_notes_and_a_stranger_gets_404(
    gateway: Gateway, shared_contact: str
) -> None:
    a, b, c = (gateway.keys.manager(x) for x in (A, B, C))
    call = {
        "channel": "phone",
        "purpose": "alumni",
        "occurred_at": "2025-03-04T10:30:00+01:00",
        "subject": f"{MARKER} subject",
        "content": f"{MARKER} notes",
    }
    recorded = gateway.api.call("POST", path(shared_contact), a, call)
    assert recorded.status == 201, recorded.text
    entry = recorded.json["interaction"]
    assert entry["occurred_at"] == "2025-03-04T09:30:00Z"
    assert (entry["component"], entry["source"], entry["content"]) == (A, "staff", call["content"])

    seen_by_b = gateway.api.call("GET", path(shared_contact), b)
    assert seen_by_b.status == 200, seen_by_b.text
    assert MARKER not in seen_by_b.text  # nowhere in the whole answer
    [theirs] = [e for e in seen_by_b.json["entries"] if e["id"] == entry["id"]]
    assert theirs["content_hidden"] is True
    assert (theirs["component"], theirs["channel"], theirs["purpose"]) == (A, "phone", "alumni")
    assert not {"subject", "content", "recorded_by"} & theirs.keys()

    seen_by_a = gateway.api.call("GET", path(shared_contact), a)
    assert MARKER in seen_by_a.text
    [mine] = [e for e in seen_by_a.json["entries"] if e["id"] == entry["id"]]
    assert mine["content_hidden"] is False and mine["subject"] == call["subject"]

    unknown = problem(gateway.api.call("GET", path(str(uuid.uuid4())), c), 404)
    stranger = problem(gateway.api.call("GET", path(shared_contact), c), 404)
    assert stranger == unknown
    problem(gateway.api.call("POST", path(shared_contact), c, {"channel": "phone"}), 404)
    assert gateway.api.call("GET", path(shared_contact), a).json == seen_by_a.json


def test_this_month_page_by_page_and_a_repeated_key(gateway: Gateway, shared_contact: str) -> None:
    a = gateway.keys.manager(A)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    sent = []
    for day in range(5):
        body = {
            "channel": "meeting",
            "occurred_at": (start + timedelta(days=day * 8)).isoformat(),
            "idempotency_key": f"meeting-{shared_contact}-{day}",
        }
        reply = gateway.api.call("POST", path(shared_contact), a, body)
        assert reply.status == 201, reply.text
        sent.append(reply.json["interaction"]["id"])
        again = gateway.api.call("POST", path(shared_contact), a, body)
        assert again.status == 200 and again.json["replayed"] is True
        assert again.json["interaction"]["id"] == reply.json["interaction"]["id"]

    window = f"since={quote('2024-05-01T00:00:00Z')}&until={quote('2024-06-01T00:00:00+00:00')}"
    listed: list[str] = []
    token = ""
    while True:
        query = window + "&page_size=2" + (f"&page_token={token}" if token else "")
        page = gateway.api.call("GET", path(shared_contact, query), a)
        assert page.status == 200, page.text
        assert len(page.json["entries"]) <= 2
        listed += [e["id"] for e in page.json["entries"]]
        token = page.json["next_page_token"]
        if not token:
            break
    in_may = sent[:4]  # day 32 is June 2nd
    assert listed == list(reversed(in_may))


def test_bad_input_is_a_400_naming_the_fields_and_writes_nothing(
    gateway: Gateway, shared_contact: str
) -> None:
    a = gateway.keys.manager(A)
    before = gateway.api.call("GET", path(shared_contact), a).json
    for body, fields in (
        ({"channel": "fax"}, {"channel"}),
        ({"channel": "sms", "subject": "two\nlines"}, {"subject"}),
        ({"channel": "sms", "unknown": 1}, {"unknown"}),
        (
            {"channel": "sms", "occurred_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()},
            {"occurred_at"},
        ),
    ):
        refused = problem(gateway.api.call("POST", path(shared_contact), a, body), 400)
        assert {e["field"] for e in refused["errors"]} == fields, refused
    viewer = gateway.keys.issuer.mint(f"v@{A}", component=A, roles=["viewer"])
    denied = problem(
        gateway.api.call("POST", path(shared_contact), viewer, {"channel": "sms"}), 403
    )
    assert "contact_editor" in denied["detail"]
    bad_period = problem(gateway.api.call("GET", path(shared_contact, "since=yesterday"), a), 400)
    assert {e["field"] for e in bad_period["errors"]} == {"since"}
    assert gateway.api.call("GET", path(shared_contact), a).json == before
