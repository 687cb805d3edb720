"""Bad input changes nothing; bad tokens are refused; health and reflection answer."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import field_violations
from tests.support.tokens import TestKeys

SERVICE = "crm.contacts.v1.ContactsService"


def person(**fields: object) -> pb.CreateContactRequest:
    values: dict[str, object] = {"kind": pb.CONTACT_KIND_PERSON, "email": "ok@example.fr"}
    values.update(fields)
    return pb.CreateContactRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (person(email="not an email"), "email"),
        (person(kind=pb.CONTACT_KIND_UNSPECIFIED), "kind"),
        (person(kind=7), "kind"),
        (person(time_zone="Europe/Atlantis"), "time_zone"),
        (
            person(attributes=[pb.AttributeInput(key="Bad Key", value="v")]),
            "attributes[0].key",
        ),
        (
            person(
                attributes=[
                    pb.AttributeInput(key="fine", value="v"),
                    pb.AttributeInput(key="9lives", value="v"),
                ]
            ),
            "attributes[1].key",
        ),
    ],
)
def test_bad_input_is_invalid_argument_and_writes_nothing(server, components, request_, field):
    before = server.counts()
    error = server.fails("CreateContact", request_, server.keys.manager("sciences"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(error)
    assert server.counts() == before


def test_a_bad_attribute_on_an_existing_contact_writes_nothing(server, components):
    token = server.keys.manager("sciences")
    contact = server.call("CreateContact", person(email="set@example.fr"), token).contact
    before = server.counts()
    request = pb.SetAttributeRequest(
        contact_id=contact.id, attribute=pb.AttributeInput(key="x" * 65, value="v", visibility=9)
    )
    error = server.fails("SetAttribute", request, token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"attribute.key", "attribute.visibility"} <= set(field_violations(error))
    assert server.counts() == before


def test_an_unregistered_component_may_not_create(server, components):
    before = server.counts()
    error = server.fails("CreateContact", person(), server.keys.manager("inconnue"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert server.counts() == before


def test_components_are_created_by_administrators_once(server, components):
    request = pb.CreateComponentRequest(id="sciences", name="Again")
    error = server.fails("CreateComponent", request, server.keys.admin())
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    request = pb.CreateComponentRequest(id="lettres", name="Lettres")
    error = server.fails("CreateComponent", request, server.keys.manager("sciences"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = server.fails(
        "CreateComponent", pb.CreateComponentRequest(id="X", name=""), server.keys.admin()
    )
    assert {"id", "name"} <= set(field_violations(error))
    listed = server.call("ListComponents", pb.ListComponentsRequest(), server.keys.manager("x"))
    assert [c.id for c in listed.components] == ["droit", "medecine", "sciences"]


def test_unknown_contacts_are_not_found(server, components):
    token = server.keys.manager("sciences")
    for contact_id in (str(uuid.uuid4()), "nope"):
        error = server.fails("GetContact", pb.GetContactRequest(id=contact_id), token)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        request = pb.SetAttributeRequest(
            contact_id=contact_id, attribute=pb.AttributeInput(key="k", value="v")
        )
        assert server.fails("SetAttribute", request, token).code() == grpc.StatusCode.NOT_FOUND


def test_missing_expired_and_foreign_tokens_are_unauthenticated(server, tmp_path):
    expired = server.keys.issuer.mint("manager@sciences", component="sciences", ttl_seconds=-600)
    foreign = TestKeys(tmp_path / "foreign").manager("sciences")
    for token in (None, "", "not-a-jwt", expired, foreign):
        error = server.fails("ListComponents", pb.ListComponentsRequest(), token)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_answers_serving(server):
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_contacts_service(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in replies[0].list_services_response.service}
    assert SERVICE in names
