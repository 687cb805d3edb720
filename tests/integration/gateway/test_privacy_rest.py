"""Data protection through the gateway, in front of real contacts, consent and campaigns."""

from __future__ import annotations

import uuid

import grpc

from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from tests.integration.gateway.harness import A, B, Gateway, problem

TIMEOUT = 10


def editor(gateway: Gateway, component: str) -> str:
    return gateway.keys.issuer.mint(
        f"editor@{component}", component=component, roles=["contact_editor"]
    )


def dpo(gateway: Gateway, component: str | None = None) -> str:
    return gateway.keys.issuer.mint(
        f"dpo@{component or 'grouping'}", component=component, roles=["dpo"]
    )


def create(gateway: Gateway, component: str, fields: dict[str, str]) -> str:
    reply = gateway.api.call(
        "POST", "/v1/contacts", editor(gateway, component), {"kind": "person", "fields": fields}
    )
    assert reply.status in (200, 201), reply.text
    return str(reply.json["contact"]["id"])


def consent_call(gateway: Gateway, method: str, request: object) -> object:
    """One call to the consent process itself, as a mesh service."""
    with grpc.insecure_channel(gateway.targets["consent"]) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = [("authorization", f"Bearer {gateway.keys.service('test')}")]
        return getattr(stub, method)(request, metadata=metadata, timeout=TIMEOUT)


def record(gateway: Gateway, method: str, contact_id: str) -> None:
    consent_call(
        gateway,
        method,
        consent_pb2.ConsentChange(
            contact_id=contact_id,
            channel=consent_pb2.CHANNEL_EMAIL,
            purpose="newsletter",
            scope=consent_pb2.Scope(component_id=A),
            source="web-form",
            text_shown="I agree to receive the newsletter.",
        ),
    )


def decision(gateway: Gateway, contact_id: str) -> int:
    reply = consent_call(
        gateway,
        "CheckBatch",
        consent_pb2.CheckBatchRequest(
            contact_ids=[contact_id],
            channel=consent_pb2.CHANNEL_EMAIL,
            purpose="newsletter",
            component_id=A,
        ),
    )
    return int(reply.results[0].decision)  # type: ignore[attr-defined]


def two_records(gateway: Gateway) -> tuple[str, str, str]:
    """Two records of one person in A, conflicting on email and first name; and a tag."""
    tag = uuid.uuid4().hex[:8]
    survivor = create(gateway, A, {"email": f"kept.{tag}@example.org", "first_name": "Marie"})
    merged = create(gateway, A, {"email": f"gone.{tag}@example.org", "first_name": "Mariette"})
    record(gateway, "Grant", survivor)
    record(gateway, "Withdraw", merged)
    return survivor, merged, tag


def assert_not_merged(gateway: Gateway, survivor: str, merged: str) -> None:
    """Contacts still holds two records, and consent still reads them apart."""
    seen = gateway.api.call("GET", f"/v1/contacts/{merged}", editor(gateway, A))
    assert seen.status == 200 and seen.json["id"] == merged and "merged_from" not in seen.json
    assert decision(gateway, survivor) == consent_pb2.DECISION_CONSENT_GIVEN


def test_a_merge_without_choices_is_409_naming_conflicts_without_values(
    gateway: Gateway,
) -> None:
    survivor, merged, tag = two_records(gateway)
    path = f"/v1/contacts/{survivor}/merge"
    reply = gateway.api.call("POST", path, dpo(gateway), {"merged_id": merged})
    body = problem(reply, 409)
    assert body["conflicts"] == [
        {"field": "email", "owner_component": A},
        {"field": "first_name", "owner_component": A},
    ]
    for value in ("Marie", tag):
        assert value not in reply.text
    assert_not_merged(gateway, survivor, merged)

    choices = [
        {"field": "email", "owner_component": A, "keep_merged": False},
        {"field": "first_name", "owner_component": A, "keep_merged": True},
    ]
    done = gateway.api.call("POST", path, dpo(gateway), {"merged_id": merged, "choices": choices})
    assert done.status == 200, done.text
    assert done.json["survivor"]["id"] == survivor
    seen = gateway.api.call("GET", f"/v1/contacts/{merged}", editor(gateway, A))
    assert (seen.json["id"], seen.json["merged_from"]) == (survivor, merged)
    assert seen.json["fields"]["first_name"]["value"] == "Mariette"
    # Consent was told: the merged record's withdrawal now stands for the person.
    assert decision(gateway, survivor) == consent_pb2.DECISION_WITHDRAWN
    assert decision(gateway, merged) == consent_pb2.DECISION_WITHDRAWN
    again = gateway.api.call("POST", path, dpo(gateway), {"merged_id": merged, "choices": choices})
    assert again.status == 200 and again.json["survivor"]["id"] == survivor


def test_a_merge_by_staff_or_a_plain_admin_is_403_and_writes_nothing(gateway: Gateway) -> None:
    survivor, merged, _ = two_records(gateway)
    choices = [
        {"field": "email", "owner_component": A, "keep_merged": False},
        {"field": "first_name", "owner_component": A, "keep_merged": False},
    ]
    for token in (editor(gateway, A), gateway.keys.admin()):
        reply = gateway.api.call(
            "POST",
            f"/v1/contacts/{survivor}/merge",
            token,
            {"merged_id": merged, "choices": choices},
        )
        problem(reply, 403)
    assert_not_merged(gateway, survivor, merged)


def test_export_is_the_grouping_dpos_with_every_components_values(gateway: Gateway) -> None:
    address = f"export.{uuid.uuid4().hex[:8]}@example.org"
    contact = create(gateway, A, {"email": address, "first_name": "Ada"})
    assert create(gateway, B, {"email": address, "last_name": "Lovelace"}) == contact
    refused = gateway.api.call("GET", f"/v1/contacts/{contact}/export", dpo(gateway, A))
    problem(refused, 403)
    reply = gateway.api.call("GET", f"/v1/contacts/{contact}/export", dpo(gateway))
    assert reply.status == 200, reply.text
    values = {(v["field"], v["owner_component"]): v["value"] for v in reply.json["values"]}
    assert values[("first_name", A)] == "Ada"
    assert values[("last_name", B)] == "Lovelace"
    assert {("email", A), ("email", B)} <= set(values)
    assert sorted(reply.json["member_components"]) == sorted([A, B])


def test_erasure_leaves_no_contact_and_no_consent(gateway: Gateway) -> None:
    contact = create(gateway, A, {"email": f"erase.{uuid.uuid4().hex[:8]}@example.org"})
    record(gateway, "Grant", contact)
    assert decision(gateway, contact) == consent_pb2.DECISION_CONSENT_GIVEN
    problem(
        gateway.api.call("DELETE", f"/v1/contacts/{contact}/personal-data", editor(gateway, A)),
        403,
    )
    reply = gateway.api.call("DELETE", f"/v1/contacts/{contact}/personal-data", dpo(gateway))
    assert reply.status == 200 and reply.json == {"tombstone_id": contact}, reply.text
    problem(gateway.api.call("GET", f"/v1/contacts/{contact}", editor(gateway, A)), 404)
    assert decision(gateway, contact) == consent_pb2.DECISION_NO_CONSENT
    # Repeating it finds nothing left in contacts (consent's part is idempotent).
    again = gateway.api.call("DELETE", f"/v1/contacts/{contact}/personal-data", dpo(gateway))
    problem(again, 404)


def test_a_component_dpo_cannot_erase_and_nothing_goes(gateway: Gateway) -> None:
    contact = create(gateway, A, {"email": f"keep.{uuid.uuid4().hex[:8]}@example.org"})
    record(gateway, "Grant", contact)
    path = f"/v1/contacts/{contact}/personal-data"
    problem(gateway.api.call("DELETE", path, dpo(gateway, A)), 403)
    assert decision(gateway, contact) == consent_pb2.DECISION_CONSENT_GIVEN
