"""B never sees A's owner-only fields: not on a route, in a mail, in an error or a log line."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e


def test_owner_only_fields_never_reach_another_component(world: World) -> None:
    secret = f"TAXE-{uuid.uuid4().hex[:12]}"
    private_phone = f"+33 6 {uuid.uuid4().int % 10**8:08d}"
    contact = world.new_contact(
        world.a,
        first_name="Dominique",
        attributes=[
            {"key": "taxe_apprentissage", "value": secret, "visibility": "owner"},
            {"key": "private_phone", "value": private_phone},
        ],
    )
    cid = contact["id"]
    owner_view = world.api.call("GET", f"/v1/contacts/{cid}", world.a).json
    assert {a["value"] for a in owner_view["attributes"]} >= {secret, private_phone}

    seen_by_b: list[str] = []

    def as_b(method: str, path: str, body: object = None) -> int:
        reply = world.api.call(method, path, world.b, body)
        seen_by_b.append(reply.text)
        return reply.status

    assert as_b("GET", f"/v1/contacts/{cid}") == 200  # a non-member: grouping fields only
    non_member_view = json.loads(seen_by_b[-1])
    assert "email" not in non_member_view and "first_name" not in non_member_view
    assert as_b("PUT", f"/v1/contacts/{cid}/attributes/note", {"value": "x"}) in (403, 404)
    assert as_b("POST", "/v1/contacts", {"kind": "person", "email": contact["email"]}) == 200
    assert as_b("GET", f"/v1/contacts/{cid}") == 200  # now a member
    assert json.loads(seen_by_b[-1])["email"] == contact["email"]
    assert as_b("GET", "/v1/contacts?page_size=1000") == 200
    assert as_b("PUT", f"/v1/contacts/{cid}/attributes/note", {"value": "ok"}) == 200
    assert as_b("PUT", f"/v1/contacts/{cid}/attributes/BAD%20KEY", {"value": "x"}) == 400
    assert as_b("GET", f"/v1/contacts/{cid}/consents") == 200

    world.grant(world.b, cid)
    campaign = world.campaign(
        world.b,
        [cid],
        subject_template="Taxe: [{{ attr.taxe_apprentissage }}]",
        body_template="Phone [{{ attr.private_phone }}] name {{ first_name }}",
    )
    seen_by_b.append(json.dumps(world.send_and_wait(world.b, campaign["id"])))
    assert as_b("GET", f"/v1/campaigns/{campaign['id']}/deliveries") == 200
    (mail,) = world.mesh.inbox.to(contact["email"])
    rendered = mail.as_string()
    assert mail["Subject"] == "Taxe: []"
    assert "Phone [] name Dominique" in mail.get_body().get_content()  # type: ignore[union-attr]

    for leaked in (secret, private_phone):
        assert leaked not in rendered
        assert all(leaked not in text for text in seen_by_b)
    logs = world.mesh.all_logs()
    assert secret not in logs
    assert contact["email"] not in logs  # processes log ids, never addresses


def test_another_components_campaign_is_invisible(world: World) -> None:
    contact = world.new_contact(world.a)
    campaign = world.campaign(world.a, [contact["id"]], name="Secret gala")
    for method, path in (
        ("GET", f"/v1/campaigns/{campaign['id']}"),
        ("GET", f"/v1/campaigns/{campaign['id']}/deliveries"),
        ("POST", f"/v1/campaigns/{campaign['id']}/send"),
    ):
        reply = world.api.call(method, path, world.b, {} if method == "POST" else None)
        assert reply.status == 404, reply.text
        assert "Secret gala" not in reply.text
    listed = world.api.call("GET", "/v1/campaigns", world.b).json["campaigns"]
    assert campaign["id"] not in {c["id"] for c in listed}
    still = world.api.call("GET", f"/v1/campaigns/{campaign['id']}", world.a).json
    assert still["status"] == "draft"
