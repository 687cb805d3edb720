"""Contacts through the gateway: the round trip, and what B's token may never see of A's."""

from __future__ import annotations

import uuid
from typing import Any

from jsonschema import Draft202012Validator

from tests.integration.gateway.harness import A, B, Gateway, problem

OWNER_ONLY_VALUE = "taxe-12345-euros"


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.org"


def create(gateway: Gateway, component: str, **fields: Any) -> Any:
    body = {"kind": "person", "first_name": "Ada", "last_name": "Lovelace", **fields}
    return gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(component), body)


def response_schema(gateway: Gateway, name: str) -> Draft202012Validator:
    document = gateway.api.call("GET", "/openapi.json").json
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


def test_components_are_registered_and_listed(gateway: Gateway) -> None:
    reply = gateway.api.call("GET", "/v1/components", gateway.keys.manager(A))
    assert reply.status == 200, reply.text
    assert {c["id"] for c in reply.json["components"]} >= {A, B}
    again = gateway.api.call("POST", "/v1/components", gateway.keys.admin(), {"id": A, "name": "x"})
    problem(again, 409)


def test_contact_round_trip(gateway: Gateway) -> None:
    email = new_email()
    attributes = [{"key": "promo", "value": "2012", "visibility": "members"}]
    created = create(gateway, A, email=email, attributes=attributes)
    assert created.status == 201, created.text
    assert created.json["joined_existing"] is False
    contact = created.json["contact"]
    assert response_schema(gateway, "ContactCreated").is_valid(created.json)
    assert contact["kind"] == "person"
    assert contact["email"] == email
    assert contact["member_components"] == [A]
    assert [
        (a["key"], a["value"], a["owner_component"], a["visibility"]) for a in contact["attributes"]
    ] == [("promo", "2012", A, "members")]

    token = gateway.keys.manager(A)
    read = gateway.api.call("GET", f"/v1/contacts/{contact['id']}", token)
    assert read.status == 200, read.text
    assert read.json == contact

    path = f"/v1/contacts/{contact['id']}/attributes/promo"
    updated = gateway.api.call("PUT", path, token, {"value": "2013", "visibility": "grouping"})
    assert updated.status == 200, updated.text
    assert {(a["key"], a["value"], a["visibility"]) for a in updated.json["attributes"]} == {
        ("promo", "2013", "grouping")
    }

    listed = gateway.api.call("GET", "/v1/contacts?page_size=1000", token)
    assert listed.status == 200, listed.text
    assert contact["id"] in {c["id"] for c in listed.json["contacts"]}
    assert "next_page_token" in listed.json
    assert response_schema(gateway, "ContactList").is_valid(listed.json)

    joined = create(gateway, B, email=email)
    assert joined.status == 200, joined.text
    assert joined.json["joined_existing"] is True
    assert joined.json["contact"]["id"] == contact["id"]


def test_b_never_sees_a_owner_only_attribute(gateway: Gateway) -> None:
    email = new_email()
    attributes = [
        {"key": "taxe_apprentissage", "value": OWNER_ONLY_VALUE, "visibility": "owner"},
        {"key": "promo", "value": "2012", "visibility": "members"},
    ]
    created = create(
        gateway, A, email=email, kind="company", organisation="ACME", attributes=attributes
    )
    assert created.status == 201, created.text
    contact_id = created.json["contact"]["id"]
    a_token, b_token = gateway.keys.manager(A), gateway.keys.manager(B)

    mine = gateway.api.call("GET", f"/v1/contacts/{contact_id}", a_token)
    assert OWNER_ONLY_VALUE in mine.text

    # B before and after joining the contact: owner-only stays with A; members-only appears.
    before = gateway.api.call("GET", f"/v1/contacts/{contact_id}", b_token)
    assert before.status in (200, 404), before.text
    assert OWNER_ONLY_VALUE not in before.text and "taxe_apprentissage" not in before.text
    assert "2012" not in before.text

    joined = create(gateway, B, email=email, kind="company", organisation="ACME")
    assert joined.status == 200, joined.text
    for reply in (
        joined,
        gateway.api.call("GET", f"/v1/contacts/{contact_id}", b_token),
        gateway.api.call("GET", "/v1/contacts?page_size=1000", b_token),
    ):
        assert reply.status == 200, reply.text
        assert OWNER_ONLY_VALUE not in reply.text
        assert "taxe_apprentissage" not in reply.text
    after = gateway.api.call("GET", f"/v1/contacts/{contact_id}", b_token).json
    assert ("promo", "2012") in {(a["key"], a["value"]) for a in after["attributes"]}

    # B cannot overwrite A's attribute either: B writes its own, A's value is untouched.
    path = f"/v1/contacts/{contact_id}/attributes/taxe_apprentissage"
    gateway.api.call("PUT", path, b_token, {"value": "0", "visibility": "owner"})
    assert OWNER_ONLY_VALUE in gateway.api.call("GET", f"/v1/contacts/{contact_id}", a_token).text
    assert OWNER_ONLY_VALUE not in gateway.log_text()


def test_service_errors_become_problems_with_field_errors(gateway: Gateway) -> None:
    token = gateway.keys.manager(A)
    bad = create(gateway, A, email="not an email", time_zone="Mars/Olympus")
    body = problem(bad, 400)
    assert {"email", "time_zone"} <= {e["field"] for e in body["errors"]}
    assert "not an email" not in bad.text

    problem(gateway.api.call("GET", f"/v1/contacts/{uuid.uuid4()}", token), 404)

    contact_id = create(gateway, A, email=new_email()).json["contact"]["id"]
    path = f"/v1/contacts/{contact_id}/attributes/note"
    problem(gateway.api.call("PUT", path, gateway.keys.manager(B), {"value": "x"}), 403)


def test_a_component_the_contacts_service_does_not_know_is_refused(gateway: Gateway) -> None:
    reply = create(gateway, A, email=new_email())
    assert reply.status == 201
    unknown = create(gateway, "unregistered", email=new_email())
    assert unknown.status in (403, 409), unknown.text
    assert unknown.headers["Content-Type"].startswith("application/problem+json")
