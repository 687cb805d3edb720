"""ResolveRecipients over gRPC: reachability per id, merge fields only the component may see."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import ContactsServer, field_violations

HIDDEN = "DON-CONFIDENTIEL-DROIT"


def create(server: ContactsServer, component: str, **fields: Any) -> str:
    attributes = [pb.AttributeInput(**a) for a in fields.pop("attributes", [])]
    request = pb.CreateContactRequest(attributes=attributes, **fields)
    return str(server.call("CreateContact", request, server.keys.manager(component)).contact.id)


@pytest.fixture(scope="module")
def people(server: ContactsServer, components: tuple[str, str, str]) -> dict[str, str]:
    """Contacts of sciences (A) and droit (B) covering every reachability."""
    shared = create(
        server,
        "sciences",
        kind=pb.CONTACT_KIND_PERSON,
        email="paul.martin@example.fr",
        first_name="Paul",
        last_name="Martin",
        time_zone="America/Montreal",
        attributes=[{"key": "promo", "value": "2010", "visibility": pb.VISIBILITY_OWNER}],
    )
    create(
        server,
        "droit",
        kind=pb.CONTACT_KIND_PERSON,
        email="PAUL.MARTIN@example.fr",
        attributes=[
            {"key": "don", "value": HIDDEN, "visibility": pb.VISIBILITY_OWNER},
            {"key": "club", "value": "rugby", "visibility": pb.VISIBILITY_MEMBERS},
            {"key": "promo", "value": "1999", "visibility": pb.VISIBILITY_GROUPING},
        ],
    )
    phone_only = create(
        server, "sciences", kind=pb.CONTACT_KIND_PERSON, first_name="Léa", phone="0612345678"
    )
    company = create(
        server,
        "sciences",
        kind=pb.CONTACT_KIND_COMPANY,
        organisation="Airbus",
        email="rh@airbus.example",
    )
    droit_only = create(server, "droit", kind=pb.CONTACT_KIND_PERSON, email="juriste@example.fr")
    return {
        "shared": shared,
        "phone_only": phone_only,
        "company": company,
        "droit_only": droit_only,
    }


def resolve(server: ContactsServer, ids: list[str], token: str | None = None) -> Any:
    request = pb.ResolveRecipientsRequest(
        component_id="sciences", purpose="newsletter", contact_ids=ids
    )
    return server.call("ResolveRecipients", request, token or server.keys.service("campaigns"))


def test_reachability_per_id_in_request_order(server, people):
    unknown = str(uuid.uuid4())
    ids = [
        people["droit_only"],
        people["shared"],
        unknown,
        people["phone_only"],
        "not-an-id",
        people["company"],
    ]
    recipients = resolve(server, ids).recipients
    assert [r.contact_id for r in recipients] == ids
    assert [r.reachability for r in recipients] == [
        pb.REACHABILITY_NOT_MEMBER,
        pb.REACHABILITY_OK,
        pb.REACHABILITY_NOT_FOUND,
        pb.REACHABILITY_NO_EMAIL,
        pb.REACHABILITY_NOT_FOUND,
        pb.REACHABILITY_OK,
    ]
    for recipient in recipients:
        if recipient.reachability != pb.REACHABILITY_OK:
            assert (recipient.email, recipient.time_zone, dict(recipient.merge_fields)) == (
                "",
                "",
                {},
            )


def test_merge_fields_hold_only_what_the_component_may_see(server, people):
    shared = resolve(server, [people["shared"]]).recipients[0]
    assert shared.email == "paul.martin@example.fr"
    assert shared.time_zone == "America/Montreal"
    assert dict(shared.merge_fields) == {
        "first_name": "Paul",
        "last_name": "Martin",
        "display_name": "Paul M.",
        "email": "paul.martin@example.fr",
        "attr.promo": "2010",  # its own value wins over droit's grouping-level one
        "attr.club": "rugby",
    }
    assert HIDDEN not in str(shared)
    company = resolve(server, [people["company"]]).recipients[0]
    assert company.merge_fields["display_name"] == "Airbus"


def test_non_service_tokens_are_refused(server, people):
    request = pb.ResolveRecipientsRequest(
        component_id="sciences", purpose="newsletter", contact_ids=[people["shared"]]
    )
    for token in (server.keys.manager("sciences"), server.keys.admin()):
        error = server.fails("ResolveRecipients", request, token)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_batches_are_bounded_and_purposes_checked(server, people):
    service = server.keys.service("campaigns")
    too_many = pb.ResolveRecipientsRequest(
        component_id="sciences", purpose="bad purpose!", contact_ids=[people["shared"]] * 1001
    )
    error = server.fails("ResolveRecipients", too_many, service)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"contact_ids", "purpose"} <= set(field_violations(error))
    full = resolve(server, [people["shared"]] * 1000)
    assert len(full.recipients) == 1000


def test_the_component_must_be_registered(server, people):
    request = pb.ResolveRecipientsRequest(
        component_id="inconnue", purpose="newsletter", contact_ids=[people["shared"]]
    )
    error = server.fails("ResolveRecipients", request, server.keys.service("campaigns"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
