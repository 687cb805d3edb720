"""Consent through the gateway: grant, withdraw, history, and one-click unsubscribe links."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from tests.integration.gateway.harness import (
    UNSUBSCRIBE_SECRET,
    A,
    B,
    Gateway,
    problem,
    refuses_bad_pages,
    walk,
)

GRANT = {
    "channel": "email",
    "purpose": "newsletter",
    "scope": "component",
    "source": "web-form",
    "text_shown": "I agree to receive the newsletter.",
}


@pytest.fixture
def contact_id(gateway: Gateway) -> str:
    body = {"kind": "person", "fields": {"email": f"{uuid.uuid4().hex[:12]}@example.org"}}
    reply = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(A), body)
    assert reply.status == 201, reply.text
    return str(reply.json["contact"]["id"])


def history(gateway: Gateway, contact_id: str, component: str = A) -> list[dict[str, Any]]:
    reply = gateway.api.call(
        "GET", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(component)
    )
    assert reply.status == 200, reply.text
    events: list[dict[str, Any]] = reply.json["events"]
    return events


def one_click_link(contact_id: str, purpose: str = "newsletter") -> str:
    token = UnsubscribeTokens(UNSUBSCRIBE_SECRET).sign(
        UnsubscribeRequest(contact_id, purpose, "campaign-77")
    )
    return f"/unsubscribe/{token}"


def test_consent_round_trip(gateway: Gateway, contact_id: str) -> None:
    token = gateway.keys.manager(A, subject="alice@sciences")
    granted = gateway.api.call("POST", f"/v1/contacts/{contact_id}/consents", token, GRANT)
    assert granted.status == 201, granted.text
    event = granted.json
    assert event["contact_id"] == contact_id
    assert event["scope"] == {"component_id": A}
    assert (event["channel"], event["purpose"], event["action"]) == ("email", "newsletter", "grant")
    assert event["legal_basis"] == "consent"
    assert (event["actor_subject"], event["actor_component"]) == ("alice@sciences", A)
    assert event["text_shown"] == GRANT["text_shown"]
    assert event["recorded_at"].endswith("Z")
    datetime.fromisoformat(event["recorded_at"])

    withdrawal = {
        "channel": "email",
        "purpose": "newsletter",
        "scope": "grouping",
        "source": "phone",
    }
    # Staff withdraw for the whole grouping only with the dpo role: 403, nothing written.
    refused = gateway.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents/withdraw", token, withdrawal
    )
    assert refused.status == 403, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    dpo = gateway.keys.issuer.mint("dpo@sciences", component=A, roles=["dpo"])
    withdrawn = gateway.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents/withdraw", dpo, withdrawal
    )
    assert withdrawn.status == 201, withdrawn.text
    assert withdrawn.json["action"] == "withdraw" and withdrawn.json["kind"] == "withdrawn"
    assert withdrawn.json["scope"] == {"grouping": True}

    events = history(gateway, contact_id)
    assert [e["id"] for e in events] == [event["id"], withdrawn.json["id"]]
    assert events[0] == event
    # B is no member of A's contact: it reads nothing of its consent, as if there were none.
    outsider = gateway.api.call(
        "GET", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(B)
    )
    assert problem(outsider, 404)["detail"] == "contact not found"


def test_bad_consent_input_is_a_400_naming_fields(gateway: Gateway, contact_id: str) -> None:
    token = gateway.keys.manager(A)
    path = f"/v1/contacts/{contact_id}/consents"
    body = problem(gateway.api.call("POST", path, token, {**GRANT, "purpose": "Not Valid!"}), 400)
    assert {e["field"] for e in body["errors"]} == {"purpose"}
    body = problem(gateway.api.call("POST", path, token, {**GRANT, "channel": "fax"}), 400)
    assert {e["field"] for e in body["errors"]} == {"channel"}
    assert history(gateway, contact_id) == []


def test_get_of_an_unsubscribe_link_changes_nothing(gateway: Gateway, contact_id: str) -> None:
    reply = gateway.api.call("GET", one_click_link(contact_id))
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/html")
    assert history(gateway, contact_id) == []


def test_one_click_post_records_a_withdrawal_visible_in_history(
    gateway: Gateway, contact_id: str
) -> None:
    granted = gateway.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(A), GRANT
    )
    assert granted.status == 201, granted.text
    reply = gateway.api.call(
        "POST",
        one_click_link(contact_id),
        raw=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert reply.status == 200, reply.text
    assert reply.json == {"status": "unsubscribed", "purpose": "newsletter"}
    events = history(gateway, contact_id)
    assert len(events) == 2
    withdrawal = events[-1]
    assert withdrawal["action"] == "withdraw"
    assert withdrawal["channel"] == "email"
    assert withdrawal["purpose"] == "newsletter"
    assert withdrawal["scope"] == {"grouping": True}
    assert withdrawal["source"] == "one-click-unsubscribe"
    assert "campaign-77" in withdrawal["text_shown"]
    assert withdrawal["actor_subject"] == "service:gateway"
    # Every member component sees it, not only the one that collected the consent.
    address = gateway.api.call("GET", f"/v1/contacts/{contact_id}", gateway.keys.manager(A))
    joined = {"kind": "person", "fields": {"email": address.json["fields"]["email"]["value"]}}
    assert gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(B), joined).status in (
        200,
        201,
    )
    assert history(gateway, contact_id, B)[-1]["id"] == withdrawal["id"]


def test_the_confirmation_form_post_answers_html(gateway: Gateway, contact_id: str) -> None:
    reply = gateway.api.call(
        "POST",
        one_click_link(contact_id),
        raw=b"confirm=yes",
        content_type="application/x-www-form-urlencoded",
    )
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/html")
    assert [e["source"] for e in history(gateway, contact_id)] == ["one-click-unsubscribe"]


def test_an_altered_link_writes_nothing(gateway: Gateway, contact_id: str) -> None:
    link = one_click_link(contact_id)
    altered = link[:-2] + ("xx" if not link.endswith("xx") else "yy")
    reply = gateway.api.call(
        "POST",
        altered,
        raw=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    problem(reply, 404)
    assert history(gateway, contact_id) == []


def test_consent_history_is_paged_oldest_first_and_stable_under_inserts(
    gateway: Gateway, contact_id: str
) -> None:
    token, path = gateway.keys.manager(A), f"/v1/contacts/{contact_id}/consents"
    withdrawal = {key: GRANT[key] for key in ("channel", "purpose", "scope", "source")}

    def record(n: int) -> None:
        for i in range(n):
            suffix = "" if i % 2 == 0 else "/withdraw"
            body = GRANT if i % 2 == 0 else withdrawal
            assert gateway.api.call("POST", path + suffix, token, body).status == 201

    record(4)
    everything = walk(gateway.api, path, token, "events", 1000)
    assert [e["action"] for e in everything] == ["grant", "withdraw"] * 2
    for size in range(1, len(everything) + 1):
        assert walk(gateway.api, path, token, "events", size) == everything

    first = gateway.api.call("GET", f"{path}?page_size=3", token)
    record(1)  # recorded between two pages: it comes last, nothing earlier repeats or is lost
    resumed = f"{path}?page_token={first.json['next_page_token']}"
    rest = walk(gateway.api, resumed, token, "events", 3)
    ids = [e["id"] for e in first.json["events"] + rest]
    assert ids[:4] == [e["id"] for e in everything] and len(ids) == len(set(ids)) == 5

    other = gateway.api.call("GET", "/v1/components?page_size=1", gateway.keys.admin())
    refuses_bad_pages(gateway.api, path, token, other.json["next_page_token"])
    # A token is bound to its contact (and reader): it does not resume another's history.
    elsewhere = f"/v1/contacts/{uuid.uuid4()}/consents?page_token={first.json['next_page_token']}"
    body = problem(gateway.api.call("GET", elsewhere, token), 400)
    assert [e["field"] for e in body["errors"]] == ["page_token"]
