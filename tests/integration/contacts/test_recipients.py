"""ResolveRecipients over gRPC: reachability per id, only asked fields the component may read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import grpc
import pytest

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import (
    ContactsServer,
    declare,
    field_violations,
    set_policy,
)

HIDDEN = "DON-CONFIDENTIEL-DROIT"
MERGED = (
    "first_name",
    "last_name",
    "display_name",
    "email",
    "phone",
    "sciences.promo",
    "droit.club",
    "droit.promo",
    "droit.don",
)


def create(server: ContactsServer, component: str, kind: int, **fields: str) -> str:
    request = pb.CreateContactRequest(kind=kind, fields=fields)  # type: ignore[arg-type]
    return str(server.call("CreateContact", request, server.keys.manager(component)).contact.id)


@pytest.fixture(scope="module")
def people(server: ContactsServer, components: tuple[str, str, str]) -> dict[str, str]:
    """Contacts of sciences (A) and droit (B) covering every reachability."""
    declare(server, "sciences", "promo")
    declare(server, "droit", "don")
    set_policy(server, declare(server, "droit", "club"), read=[{"audience": "members"}])
    set_policy(server, declare(server, "droit", "promo"), read=[{"audience": "grouping"}])
    shared = create(
        server,
        "sciences",
        pb.CONTACT_KIND_PERSON,
        email="paul.martin@example.fr",
        first_name="Paul",
        last_name="Martin",
        time_zone="America/Montreal",
        **{"sciences.promo": "2010"},
    )
    create(
        server,
        "droit",
        pb.CONTACT_KIND_PERSON,
        email="PAUL.MARTIN@example.fr",
        phone="+33 1 44 55 66 77",
        **{"droit.don": HIDDEN, "droit.club": "rugby", "droit.promo": "1999"},
    )
    phone_only = create(
        server, "sciences", pb.CONTACT_KIND_PERSON, first_name="Léa", phone="0612345678"
    )
    company = create(
        server,
        "sciences",
        pb.CONTACT_KIND_COMPANY,
        organisation="Airbus",
        email="rh@airbus.example",
    )
    droit_only = create(server, "droit", pb.CONTACT_KIND_PERSON, email="juriste@example.fr")
    return {
        "shared": shared,
        "phone_only": phone_only,
        "company": company,
        "droit_only": droit_only,
    }


def resolve(
    server: ContactsServer,
    ids: list[str],
    fields: Sequence[str] = MERGED,
    token: str | None = None,
) -> Any:
    request = pb.ResolveRecipientsRequest(
        component_id="sciences", purpose="newsletter", contact_ids=ids, fields=fields
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
        pb.REACHABILITY_NOT_MEMBER,  # an unknown id reads as not a member: nothing to probe
        pb.REACHABILITY_NO_EMAIL,
        pb.REACHABILITY_NOT_MEMBER,
        pb.REACHABILITY_OK,
    ]
    for recipient in recipients:
        if recipient.reachability != pb.REACHABILITY_OK:
            assert (recipient.email, recipient.time_zone, dict(recipient.merge_fields)) == (
                "",
                "",
                {},
            )
    # a contact of another component and no contact at all answer the very same bytes
    other, nobody = recipients[0], recipients[2]
    other.contact_id = nobody.contact_id = ""
    assert other.SerializeToString() == nobody.SerializeToString()


def test_merge_fields_hold_only_the_asked_fields_the_component_may_read(server, people):
    shared = resolve(server, [people["shared"]]).recipients[0]
    assert shared.email == "paul.martin@example.fr"  # its own address wins over droit's
    assert shared.time_zone == "America/Montreal"
    assert dict(shared.merge_fields) == {
        "first_name": "Paul",
        "last_name": "Martin",
        "display_name": "Paul M.",
        "email": "paul.martin@example.fr",
        "sciences.promo": "2010",
        "droit.club": "rugby",  # members grant: sciences is a member
        "droit.promo": "1999",  # grouping grant
    }
    # droit's phone and owner-only gift stay droit's
    assert HIDDEN not in str(shared) and "+33144556677" not in str(shared)
    company = resolve(server, [people["company"]]).recipients[0]
    assert company.merge_fields["display_name"] == "Airbus"


def test_only_the_fields_the_message_uses_are_handed_over(server, people):
    (recipient,) = resolve(server, [people["shared"]], fields=["first_name"]).recipients
    assert dict(recipient.merge_fields) == {"first_name": "Paul"}
    assert recipient.email == "paul.martin@example.fr"  # the address is always needed
    (recipient,) = resolve(server, [people["shared"]], fields=[]).recipients
    assert dict(recipient.merge_fields) == {}
    assert recipient.reachability == pb.REACHABILITY_OK


def test_protected_merge_fields_are_audited_for_their_owner(server, people):
    before = server.count("sensitive_reads")
    resolve(
        server,
        [people["shared"], people["droit_only"]],
        fields=["first_name", "droit.club", "droit.promo"],
    )
    rows = server.sql(
        "SELECT subject, component, contact_id, field, owner_component, route"
        " FROM sensitive_reads ORDER BY id OFFSET :skip",
        skip=before,
    )
    assert sorted(rows) == sorted(
        [
            (
                "service:campaigns",
                "sciences",
                people["shared"],
                "first_name",
                "sciences",
                "ResolveRecipients",
            ),
            (
                "service:campaigns",
                "sciences",
                people["shared"],
                "droit.club",
                "droit",
                "ResolveRecipients",
            ),
        ]
    )  # droit.promo is readable by the grouping: not a sensitive read; droit_only not shown


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
        component_id="sciences",
        purpose="bad purpose!",
        contact_ids=[people["shared"]] * 1001,
        fields=[f"f{i}" for i in range(101)],
    )
    error = server.fails("ResolveRecipients", too_many, service)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"contact_ids", "purpose", "fields"} <= set(field_violations(error))
    full = resolve(server, [people["shared"]] * 1000)
    assert len(full.recipients) == 1000


def test_the_component_must_be_registered(server, people):
    request = pb.ResolveRecipientsRequest(
        component_id="inconnue", purpose="newsletter", contact_ids=[people["shared"]]
    )
    error = server.fails("ResolveRecipients", request, server.keys.service("campaigns"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
