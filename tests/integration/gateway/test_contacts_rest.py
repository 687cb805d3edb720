"""Contacts through the gateway: the round trip, and what B's token may never see of A's."""

from __future__ import annotations

import uuid
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import text

from meshkit import page_tokens
from tests.integration.contacts.harness import declare, set_policy
from tests.integration.gateway.harness import A, B, Gateway, problem, refuses_bad_pages, walk
from tests.support.mesh import Api, Reply

OWNER_ONLY_VALUE = "4321987"
OWNER = {"audience": "owner"}
MEMBERS = {"audience": "members"}


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.org"


def create(gateway: Gateway, component: str, kind: str = "person", **fields: str) -> Reply:
    body = {"kind": kind, "fields": {"first_name": "Ada", "last_name": "Lovelace", **fields}}
    return gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(component), body)


def etag_header(reply: Reply) -> str:
    """The ETag header, whatever case the server spelled its name in."""
    (value,) = [v for k, v in reply.headers.items() if k.lower() == "etag"]
    return value


def patch(
    gateway: Gateway, token: str, contact_id: str, fields: dict[str, Any], etag: str
) -> Reply:
    api = Api(gateway.api.base, {"If-Match": f'"{etag}"'})
    return api.call("PATCH", f"/v1/contacts/{contact_id}", token, {"fields": fields})


def values(contact: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {name: (v["value"], v["owner_component"]) for name, v in contact["fields"].items()}


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
    promo = declare(gateway, A, "promo")
    set_policy(gateway, promo, read=[OWNER, MEMBERS])
    email = new_email()
    created = create(gateway, A, email=email, **{promo: "2012"})
    assert created.status == 201, created.text
    assert created.json["joined_existing"] is False
    contact = created.json["contact"]
    assert response_schema(gateway, "ContactCreated").is_valid(created.json)
    assert contact["kind"] == "person"
    assert values(contact)["email"] == (email, A)
    assert values(contact)[promo] == ("2012", A)
    assert values(contact)["display_name"] == ("Ada L.", A)
    assert contact["member_components"] == [A]
    assert etag_header(created) == f'"{contact["etag"]}"'

    token = gateway.keys.manager(A)
    read = gateway.api.call("GET", f"/v1/contacts/{contact['id']}", token)
    assert read.status == 200, read.text
    assert read.json == contact
    assert etag_header(read) == etag_header(created)

    updated = patch(
        gateway, token, contact["id"], {promo: "2013", "job_title": "Analyste"}, contact["etag"]
    )
    assert updated.status == 200, updated.text
    assert values(updated.json)[promo] == ("2013", A)
    assert values(updated.json)["job_title"] == ("Analyste", A)
    assert updated.json["etag"] != contact["etag"]
    assert response_schema(gateway, "Contact").is_valid(updated.json)
    cleared = patch(gateway, token, contact["id"], {"job_title": None}, updated.json["etag"])
    assert cleared.status == 200, cleared.text
    assert "job_title" not in cleared.json["fields"]

    listed = gateway.api.call("GET", "/v1/contacts?page_size=1000", token)
    assert listed.status == 200, listed.text
    assert contact["id"] in {c["id"] for c in listed.json["contacts"]}
    assert "next_page_token" in listed.json
    assert response_schema(gateway, "ContactList").is_valid(listed.json)

    joined = gateway.api.call(
        "POST",
        "/v1/contacts",
        gateway.keys.manager(B),
        {"kind": "person", "fields": {"email": email.upper()}},
    )
    assert joined.status == 200, joined.text
    assert joined.json["joined_existing"] is True
    assert joined.json["contact"]["id"] == contact["id"]
    seen = values(joined.json["contact"])
    assert seen[promo] == ("2013", A)  # members grant
    assert seen["email"] == (email.upper(), B)  # B's own value
    assert "first_name" not in seen and "last_name" not in seen  # A's, not shared


def test_b_never_sees_a_owner_only_attribute(gateway: Gateway) -> None:
    taxe = declare(gateway, A, "taxe_apprentissage", "number")
    promo = declare(gateway, A, "promo")
    set_policy(gateway, promo, read=[OWNER, MEMBERS])
    email = new_email()
    created = create(
        gateway,
        A,
        "company",
        email=email,
        organisation="ACME",
        **{taxe: OWNER_ONLY_VALUE, promo: "2012"},
    )
    assert created.status == 201, created.text
    contact_id = created.json["contact"]["id"]
    a_token, b_token = gateway.keys.manager(A), gateway.keys.manager(B)

    mine = gateway.api.call("GET", f"/v1/contacts/{contact_id}", a_token)
    assert OWNER_ONLY_VALUE in mine.text

    # B before and after joining the contact: owner-only stays with A; members-only appears.
    before = gateway.api.call("GET", f"/v1/contacts/{contact_id}", b_token)
    assert before.status == 200, before.text
    assert set(before.json["fields"]) <= {"display_name", "organisation"}
    assert OWNER_ONLY_VALUE not in before.text and taxe not in before.text
    assert "2012" not in before.text

    joined = gateway.api.call(
        "POST",
        "/v1/contacts",
        b_token,
        {"kind": "company", "fields": {"email": email, "organisation": "ACME"}},
    )
    assert joined.status == 200, joined.text
    for reply in (
        joined,
        gateway.api.call("GET", f"/v1/contacts/{contact_id}", b_token),
        gateway.api.call("GET", "/v1/contacts?page_size=1000", b_token),
    ):
        assert reply.status == 200, reply.text
        assert OWNER_ONLY_VALUE not in reply.text
        assert taxe not in reply.text
    after = gateway.api.call("GET", f"/v1/contacts/{contact_id}", b_token)
    assert values(after.json)[promo] == ("2012", A)

    # B cannot overwrite A's attribute either: refused, A's value untouched.
    refused = patch(gateway, b_token, contact_id, {taxe: "0"}, after.json["etag"])
    problem(refused, 403)
    assert any(e["field"] == taxe for e in refused.json.get("errors", []))
    assert OWNER_ONLY_VALUE in gateway.api.call("GET", f"/v1/contacts/{contact_id}", a_token).text
    assert OWNER_ONLY_VALUE not in gateway.log_text()


def test_service_errors_become_problems_with_field_errors(gateway: Gateway) -> None:
    token = gateway.keys.manager(A)
    bad = create(gateway, A, email="not an email", time_zone="Mars/Olympus")
    body = problem(bad, 400)
    assert {"fields.email", "fields.time_zone"} <= {e["field"] for e in body["errors"]}
    assert "not an email" not in bad.text

    problem(gateway.api.call("GET", f"/v1/contacts/{uuid.uuid4()}", token), 404)

    contact_id = create(gateway, A, email=new_email()).json["contact"]["id"]
    b_token = gateway.keys.manager(B)
    b_etag = gateway.api.call("GET", f"/v1/contacts/{contact_id}", b_token).json["etag"]
    problem(patch(gateway, b_token, contact_id, {"job_title": "x"}, b_etag), 403)
    problem(gateway.api.call("DELETE", f"/v1/contacts/{contact_id}/membership", b_token), 403)


def test_writes_need_the_contact_editor_role(gateway: Gateway) -> None:
    reader = gateway.keys.issuer.mint(f"reader@{A}", component=A, roles=["campaign_manager"])
    body = {"kind": "person", "fields": {"email": new_email()}}
    problem(gateway.api.call("POST", "/v1/contacts", reader, body), 403)
    created = create(gateway, A, email=new_email()).json["contact"]
    assert gateway.api.call("GET", f"/v1/contacts/{created['id']}", reader).status == 200
    problem(patch(gateway, reader, created["id"], {"job_title": "x"}, created["etag"]), 403)
    path = f"/v1/contacts/{created['id']}/membership"
    problem(gateway.api.call("DELETE", path, reader), 403)


def test_leaving_drops_the_components_values_and_the_last_member_removes_the_contact(
    gateway: Gateway,
) -> None:
    email = new_email()
    a_token, b_token = gateway.keys.manager(A), gateway.keys.manager(B)
    contact_id = create(gateway, A, email=email).json["contact"]["id"]
    body = {"kind": "person", "fields": {"email": email, "job_title": "Juriste"}}
    assert gateway.api.call("POST", "/v1/contacts", b_token, body).status == 200

    left = gateway.api.call("DELETE", f"/v1/contacts/{contact_id}/membership", b_token)
    assert left.status == 200, left.text
    assert left.json == {"contact_deleted": False}
    mine = gateway.api.call("GET", f"/v1/contacts/{contact_id}", a_token).json
    assert mine["member_components"] == [A]
    with gateway.engine.connect() as connection:
        owners = connection.execute(
            text("SELECT DISTINCT owner_component FROM contact_values WHERE contact_id = :id"),
            {"id": contact_id},
        ).all()
    assert owners == [(A,)]
    # B may join again afterwards: its old values did not stay behind
    again = gateway.api.call(
        "POST", "/v1/contacts", b_token, {"kind": "person", "fields": {"email": email}}
    )
    assert again.status == 200, again.text
    assert "job_title" not in again.json["contact"]["fields"]
    assert (
        gateway.api.call("DELETE", f"/v1/contacts/{contact_id}/membership", b_token).status == 200
    )

    last = gateway.api.call("DELETE", f"/v1/contacts/{contact_id}/membership", a_token)
    assert last.status == 200, last.text
    assert last.json == {"contact_deleted": True}
    problem(gateway.api.call("GET", f"/v1/contacts/{contact_id}", a_token), 404)


def test_only_an_administrator_deletes_a_contact(gateway: Gateway) -> None:
    contact_id = create(gateway, A, email=new_email()).json["contact"]["id"]
    path = f"/v1/contacts/{contact_id}"
    problem(gateway.api.call("DELETE", path, gateway.keys.manager(A)), 403)
    assert gateway.api.call("GET", path, gateway.keys.manager(A)).status == 200
    deleted = gateway.api.call("DELETE", path, gateway.keys.admin())
    assert deleted.status == 204, deleted.text
    problem(gateway.api.call("GET", path, gateway.keys.manager(A)), 404)
    problem(gateway.api.call("DELETE", path, gateway.keys.admin()), 404)


def test_a_component_the_contacts_service_does_not_know_is_refused(gateway: Gateway) -> None:
    reply = create(gateway, A, email=new_email())
    assert reply.status == 201
    unknown = create(gateway, "unregistered", email=new_email())
    assert unknown.status in (403, 409), unknown.text
    assert unknown.headers["Content-Type"].startswith("application/problem+json")


def test_components_are_paged_in_id_order_and_stable_under_inserts(gateway: Gateway) -> None:
    admin = gateway.keys.admin()
    everything = walk(gateway.api, "/v1/components", admin, "components", 1000)
    ids = [c["id"] for c in everything]
    assert ids == sorted(ids) and {A, B} <= set(ids)
    for size in (1, 2):
        assert walk(gateway.api, "/v1/components", admin, "components", size) == everything

    first = gateway.api.call("GET", "/v1/components?page_size=1", admin)
    assert first.json["components"] == everything[:1]
    tag = uuid.uuid4().hex[:8]
    for new in (f"a0{tag}", f"zz{tag}"):  # one before the position, one after it
        body = {"id": new, "name": new}
        assert gateway.api.call("POST", "/v1/components", admin, body).status == 201
    after = f"/v1/components?page_token={first.json['next_page_token']}"
    rest = [c["id"] for c in walk(gateway.api, after, admin, "components", 2)]
    listed = [c["id"] for c in first.json["components"]] + rest
    assert [i for i in listed if i not in (f"a0{tag}", f"zz{tag}")] == ids  # none lost or twice
    assert f"a0{tag}" not in rest and rest[-1] == f"zz{tag}"

    # A genuine token of another list (the consent history's) names no component.
    foreign = page_tokens.encode("consent.history", (1,), str(uuid.uuid4()), "")
    refuses_bad_pages(gateway.api, "/v1/components", admin, foreign)
