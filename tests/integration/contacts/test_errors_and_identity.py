"""Bad input changes nothing; bad tokens are refused; health and reflection answer."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import declare, field_violations
from tests.support.tokens import TestKeys

SERVICE = "crm.contacts.v1.ContactsService"


def person(kind: int = pb.CONTACT_KIND_PERSON, **fields: str) -> pb.CreateContactRequest:
    return pb.CreateContactRequest(kind=kind, fields={"email": "ok@example.fr", **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (person(email="not an email"), "fields.email"),
        (person(kind=pb.CONTACT_KIND_UNSPECIFIED), "kind"),
        (person(kind=7), "kind"),
        (person(time_zone="Europe/Atlantis"), "fields.time_zone"),
        (person(**{"Bad Key": "v"}), "fields.Bad Key"),
        # an attribute no component declared is no field of the catalogue
        (person(**{"sciences.undeclared": "v"}), "fields.sciences.undeclared"),
        (person(**{"sciences.fine": "v", "sciences.9lives": "v"}), "fields.sciences.9lives"),
        (person(first_name="x" * 201), "fields.first_name"),
        (
            pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, fields={"first_name": "A"}),
            "fields",
        ),
    ],
)
def test_bad_input_is_invalid_argument_and_writes_nothing(server, components, request_, field):
    declare(server, "sciences", "fine")
    before = server.counts()
    error = server.fails("CreateContact", request_, server.keys.manager("sciences"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(error)
    assert server.counts() == before


def test_a_bad_value_on_an_existing_contact_writes_nothing(server, components):
    token = server.keys.manager("sciences")
    declare(server, "sciences", "budget", "number")
    contact = server.call("CreateContact", person(email="set@example.fr"), token).contact
    before = server.counts()
    request = pb.UpdateContactRequest(
        id=contact.id,
        etag=contact.etag,
        set={"sciences.budget": "beaucoup", "sciences." + "x" * 65: "v"},
        clear=["visibility"],
    )
    error = server.fails("UpdateContact", request, token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"set.sciences.budget", "set.sciences." + "x" * 65, "clear[0]"} <= set(
        field_violations(error)
    )
    missing_etag = pb.UpdateContactRequest(id=contact.id, set={"job_title": "x"})
    error = server.fails("UpdateContact", missing_etag, token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "etag" in field_violations(error)
    assert server.counts() == before


def test_an_unregistered_component_may_not_create(server, components):
    before = server.counts()
    error = server.fails("CreateContact", person(), server.keys.manager("inconnue"))
    # The organisation tree refuses a token naming a component it does not know.
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert server.counts() == before


def test_writing_contacts_needs_the_contact_editor_role(server, components):
    token = server.keys.manager("sciences")
    contact = server.call("CreateContact", person(email="role@example.fr"), token).contact
    reader = server.keys.issuer.mint(
        "reader@sciences", component="sciences", roles=["campaign_manager"]
    )
    before = server.counts()
    for method, request in (
        ("CreateContact", person(email="other@example.fr")),
        (
            "UpdateContact",
            pb.UpdateContactRequest(id=contact.id, etag=contact.etag, set={"job_title": "x"}),
        ),
        ("LeaveContact", pb.LeaveContactRequest(id=contact.id)),
    ):
        error = server.fails(method, request, reader)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, method
    assert server.counts() == before
    # reading needs no role beyond being signed in
    assert server.call("GetContact", pb.GetContactRequest(id=contact.id), reader).id == contact.id


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
    listed = server.call("ListComponents", pb.ListComponentsRequest(), server.keys.admin())
    assert [c.id for c in listed.components] == ["droit", "medecine", "sciences"]


def test_unknown_contacts_are_not_found(server, components):
    token = server.keys.manager("sciences")
    before = server.counts()
    for contact_id in (str(uuid.uuid4()), "nope"):
        error = server.fails("GetContact", pb.GetContactRequest(id=contact_id), token)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        request = pb.UpdateContactRequest(id=contact_id, etag="e", set={"job_title": "x"})
        assert server.fails("UpdateContact", request, token).code() == grpc.StatusCode.NOT_FOUND
        request = pb.LeaveContactRequest(id=contact_id)
        assert server.fails("LeaveContact", request, token).code() == grpc.StatusCode.NOT_FOUND
        request = pb.DeleteContactRequest(id=contact_id)
        error = server.fails("DeleteContact", request, server.keys.admin())
        assert error.code() == grpc.StatusCode.NOT_FOUND
    assert server.counts() == before


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
