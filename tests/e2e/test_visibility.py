"""Field-level rights from the side of those who must not see: no route, mail, error or log leaks.

Two components share a contact. Component A (sciences) holds an apprenticeship
tax amount readable by its corporate-relations service at manager level and
above only, a research contract readable by that service only, and a private
phone (no policy: A's alone). Component B (medecine) holds a donation (no
policy: B's alone). Each token reads through the gateway and directly over
gRPC; every answer any of them gets is searched for the values it must not see.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

import grpc
import pytest

from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World

pytestmark = pytest.mark.e2e

TAXE = f"{COMPONENT_A}.taxe_apprentissage"
CONTRAT = f"{COMPONENT_A}.contrat_recherche"
DON = f"{COMPONENT_B}.don"
RELATIONS = "relations"


def _admin_sets_up_the_tree_and_policies(world: World) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"/v1/components/{COMPONENT_A}/services", {"id": RELATIONS, "name": "Rel."}),
        ("POST", f"/v1/components/{COMPONENT_A}/services", {"id": "alumni", "name": "Alumni"}),
        ("PUT", "/v1/organisation/levels", {"levels": ["agent", "manager", "director"]}),
        ("PUT", f"/v1/components/{COMPONENT_A}/attributes/taxe_apprentissage", {"type": "number"}),
        ("PUT", f"/v1/components/{COMPONENT_A}/attributes/contrat_recherche", {"type": "text"}),
        ("PUT", f"/v1/components/{COMPONENT_B}/attributes/don", {"type": "number"}),
    ]
    restricted = {"audience": "owner", "service": RELATIONS, "min_level": "manager"}
    calls += [
        ("PUT", f"/v1/field-policies/{TAXE}", {"read": [restricted], "write": [restricted]}),
        (
            "PUT",
            f"/v1/field-policies/{CONTRAT}",
            {
                "read": [{"audience": "owner", "service": RELATIONS}],
                "write": [{"audience": "owner", "service": RELATIONS}],
            },
        ),
    ]
    for method, path, body in calls:
        reply = world.api.call(method, path, world.admin, body)
        assert reply.status in (200, 201, 204), (path, reply.text)


def _token(world: World, component: str, service: str | None, level: str) -> str:
    claims = {"component": component, "level": level, **({"service": service} if service else {})}
    return world.mesh.keys.issuer.mint(
        f"{uuid.uuid4().hex[:6]}@{component}",
        roles=["contact_editor", "campaign_manager"],
        **claims,  # type: ignore[arg-type]
    )


class Watched:
    """Every answer one caller got, to search for what it must not see."""

    def __init__(self, world: World, token: str) -> None:
        self.world, self.token, self.seen = world, token, []  # type: list[str]

    def call(self, method: str, path: str, body: object = None, **kwargs: Any) -> Any:
        reply = self.world.api.call(method, path, self.token, body, **kwargs)
        self.seen.append(reply.text)
        return reply

    def grpc_get(self, contact_id: str) -> pb.Contact:
        with grpc.insecure_channel(self.world.mesh.targets["contacts"]) as channel:
            stub = contacts_pb2_grpc.ContactsServiceStub(channel)
            metadata = [("authorization", f"Bearer {self.token}")]
            found = stub.GetContact(pb.GetContactRequest(id=contact_id), metadata=metadata)
        self.seen.append(str(found))
        return found

    def fields(self, contact_id: str) -> dict[str, str]:
        reply = self.call("GET", f"/v1/contacts/{contact_id}")
        assert reply.status == 200, reply.text
        by_rest = {name: v["value"] for name, v in reply.json["fields"].items()}
        by_grpc = {name: v.value for name, v in self.grpc_get(contact_id).fields.items()}
        assert by_rest == by_grpc  # a direct gRPC caller gets no more than the gateway gives
        return by_rest

    def patch(self, contact_id: str, fields: dict[str, str | None]) -> Any:
        etag = self.call("GET", f"/v1/contacts/{contact_id}").json["etag"]
        return self.call(
            "PATCH",
            f"/v1/contacts/{contact_id}",
            {"fields": fields},
            headers={"If-Match": f'"{etag}"'},
        )

    def never_saw(self, *secrets: str) -> None:
        for secret in secrets:
            assert all(secret not in text for text in self.seen), secret


def test_nobody_sees_a_field_outside_their_grants(world: World) -> None:
    _admin_sets_up_the_tree_and_policies(world)
    director = Watched(world, _token(world, COMPONENT_A, RELATIONS, "director"))
    agent = Watched(world, _token(world, COMPONENT_A, RELATIONS, "agent"))
    alumni = Watched(world, _token(world, COMPONENT_A, "alumni", "director"))
    other = Watched(world, _token(world, COMPONENT_B, None, "director"))
    # Decimal points: no id, hash or etag holds one, so a match is a leak, not a coincidence.
    taxe, contrat, don = "91234.75", f"CONTRAT-{uuid.uuid4().hex[:8]}", "45678.25"
    phone, first_name = "+33612345678", f"Dominique{uuid.uuid4().hex[:4]}"
    email = f"{uuid.uuid4().hex[:10]}@example.org"

    created = director.call(
        "POST",
        "/v1/contacts",
        {
            "kind": "person",
            "fields": {
                "email": email,
                "first_name": first_name,
                "private_phone": "06 12 34 56 78",
                TAXE: taxe,
                CONTRAT: contrat,
            },
        },
    )
    assert created.status == 201, created.text
    cid = created.json["contact"]["id"]
    joined = other.call(
        "POST",
        "/v1/contacts",
        {"kind": "person", "fields": {"email": email, "first_name": "Dom", DON: don}},
    )
    assert joined.status == 200 and joined.json["contact"]["id"] == cid, joined.text

    # Reads: each sees exactly its grants, through the gateway and over gRPC alike.
    assert {TAXE, CONTRAT, "private_phone"} <= set(director.fields(cid))
    assert director.fields(cid)["first_name"] == first_name
    agent_sees = agent.fields(cid)
    assert CONTRAT in agent_sees and TAXE not in agent_sees  # below the level
    alumni_sees = alumni.fields(cid)
    assert CONTRAT not in alumni_sees and TAXE not in alumni_sees  # another service
    assert "private_phone" in alumni_sees  # no policy: the owner component's, any service
    other_sees = other.fields(cid)
    assert other_sees[DON] == don and other_sees["first_name"] == "Dom"
    assert not {TAXE, CONTRAT, "private_phone"} & set(other_sees)
    for insider in (director, agent, alumni):
        assert DON not in insider.fields(cid)

    # Writes: a field outside one's write grants refuses the whole write.
    assert agent.patch(cid, {TAXE: "1", "job_title": "x"}).status == 403
    assert alumni.patch(cid, {CONTRAT: "x"}).status == 403
    assert other.patch(cid, {TAXE: "1"}).status == 403
    assert "job_title" not in director.fields(cid)
    assert director.fields(cid)[TAXE] == taxe

    # Lists, filters and errors: a hidden field is refused exactly like one that does not exist.
    assert other.call("GET", "/v1/contacts?page_size=1000").status == 200

    def search(field: str) -> Any:
        filters = json.dumps([{"field": field, "equals": taxe}])
        return other.call("GET", f"/v1/contacts?filters={urllib.parse.quote(filters)}")

    hidden, unknown = search(TAXE), search(f"{COMPONENT_A}.nothing_here")
    assert hidden.status == unknown.status == 400
    assert hidden.json == unknown.json
    found = director.call(
        "GET",
        f"/v1/contacts?filters={urllib.parse.quote(json.dumps([{'field': TAXE, 'equals': taxe}]))}",
    )
    assert [c["id"] for c in found.json["contacts"]] == [cid]
    assert other.call("GET", f"/v1/contacts/{cid}/consents").status == 200

    # Merge fields: a campaign is sent as the component, never as a service or a level.
    world.grant(other.token, cid)
    campaign = world.campaign(
        other.token,
        [cid],
        subject_template=f"Taxe [{{{{ {TAXE} }}}}]",
        body_template=f"Tel [{{{{ private_phone }}}}] {{{{ first_name }}}} don {{{{ {DON} }}}}",
    )
    other.seen.append(json.dumps(world.send_and_wait(other.token, campaign["id"])))
    other.call("GET", f"/v1/campaigns/{campaign['id']}/deliveries")
    (mail,) = world.mesh.inbox.to(email)
    assert mail["Subject"] == "Taxe []"
    assert f"Tel [] Dom don {don}" in mail.get_body().get_content()  # type: ignore[union-attr]

    for secret in (taxe, contrat, phone, first_name):
        assert secret not in mail.as_string()
    other.never_saw(taxe, contrat, phone, first_name)
    agent.never_saw(taxe, don)
    alumni.never_saw(taxe, contrat, don)
    logs = world.mesh.all_logs()
    for secret in (taxe, contrat, phone, don, email):
        assert secret not in logs  # processes log ids and field names, never values


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
