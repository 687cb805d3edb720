"""GET /v1/contacts with filters: a JSON `filters` parameter, kind and updated_since, and
problem+json for every bad filter (the same one for a field that is unknown or hidden)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

from tests.integration.gateway.harness import A, B, Gateway, problem


def editor(gateway: Gateway, component: str) -> str:
    return gateway.keys.issuer.mint(
        f"editor@{component}", component=component, roles=["contact_editor", "viewer"]
    )


def listing(gateway: Gateway, token: str, **params: Any) -> Any:
    query = {k: json.dumps(v) if k == "filters" else v for k, v in params.items()}
    return gateway.api.call("GET", "/v1/contacts?" + urllib.parse.urlencode(query), token)


def test_filters_kind_and_updated_since_select_contacts(gateway: Gateway) -> None:
    token = editor(gateway, A)
    name = f"Ada{uuid.uuid4().hex[:6]}"
    body = {"kind": "person", "fields": {"email": f"{name}@example.org", "first_name": name}}
    created = gateway.api.call("POST", "/v1/contacts", token, body)
    assert created.status == 201, created.text
    contact_id = created.json["contact"]["id"]
    wanted = [{"field": "first_name", "equals": name}]
    found = listing(gateway, token, filters=wanted, kind="person")
    assert found.status == 200, found.text
    assert [c["id"] for c in found.json["contacts"]] == [contact_id]
    assert "total" not in found.json  # no counts: a search tells only what it shows
    assert listing(gateway, token, filters=wanted, kind="company").json["contacts"] == []
    later = listing(gateway, token, filters=wanted, updated_since="2999-01-01T00:00:00Z")
    assert later.json["contacts"] == []
    # B may not read A's first names: nothing of A's contact shows through a B search.
    assert listing(gateway, editor(gateway, B), filters=wanted).json["contacts"] == []


def test_bad_filters_are_problems_naming_the_parameter(gateway: Gateway) -> None:
    token = editor(gateway, B)
    cases = {
        "filters": "not json",
        "filters[0]": [{"field": "first_name", "equals": "x", "min": "1"}],
    }
    for path, value in cases.items():
        query = {"filters": value if isinstance(value, str) else json.dumps(value)}
        reply = gateway.api.call("GET", "/v1/contacts?" + urllib.parse.urlencode(query), token)
        body = problem(reply, 400)
        assert [e["field"] for e in body["errors"]] == [path], body
    since = problem(listing(gateway, token, updated_since="yesterday"), 400)
    assert [e["field"] for e in since["errors"]] == ["updated_since"]
    ranged = problem(listing(gateway, token, filters=[{"field": "first_name", "min": "a"}]), 400)
    assert [e["field"] for e in ranged["errors"]] == ["filters[0].range"]


def test_an_unknown_field_and_a_hidden_one_read_the_same(gateway: Gateway) -> None:
    token = editor(gateway, B)
    # A's attribute may not exist, or exist and be A's alone: B cannot tell which.
    replies = [
        listing(gateway, token, filters=[{"field": field, "equals": "x"}])
        for field in (f"{A}.nothing", f"{A}.other", "display_name")
    ]
    bodies = [problem(reply, 400) for reply in replies]
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["errors"] == [
        {"field": "filters[0].field", "description": "is not a field the caller may filter on"}
    ]
