"""No leak over gRPC: B joins A's contact and never sees A's owner-only attribute."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import ContactsServer, error_text

SECRET = "TAXE-12000-CONFIDENTIEL"
EMAIL = "Marie.Dupont@Example.fr"


def attribute(key: str, value: str, visibility: pb.Visibility.ValueType) -> pb.AttributeInput:
    return pb.AttributeInput(key=key, value=value, visibility=visibility)


def assert_no_secret(message: Any) -> None:
    assert SECRET not in str(message)
    assert SECRET.encode() not in message.SerializeToString()


@pytest.fixture(scope="module")
def shared(server: ContactsServer, components: tuple[str, str, str]) -> dict[str, Any]:
    """A creates Marie with an owner-only tax amount; B creates the same email and joins."""
    a, b, _ = components
    created = server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON,
            email=EMAIL,
            first_name="Marie",
            last_name="Dupont",
            phone="+33 1 23 45 67 89",
            attributes=[
                attribute("taxe_apprentissage", SECRET, pb.VISIBILITY_OWNER),
                attribute("promo", "2012", pb.VISIBILITY_MEMBERS),
                attribute("secteur", "aeronautique", pb.VISIBILITY_GROUPING),
            ],
        ),
        server.keys.manager(a),
    )
    joined = server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON,
            email="  marie.dupont@EXAMPLE.FR ",
            first_name="Not Marie",
            attributes=[attribute("note", "rencontre salon", pb.VISIBILITY_UNSPECIFIED)],
        ),
        server.keys.manager(b),
    )
    return {"created": created, "joined": joined, "id": created.contact.id}


def test_the_owner_sees_its_own_attribute(server, components, shared):
    contact = shared["created"].contact
    assert not shared["created"].joined_existing
    assert {a.key: a.value for a in contact.attributes}["taxe_apprentissage"] == SECRET
    fetched = server.call(
        "GetContact", pb.GetContactRequest(id=shared["id"]), server.keys.manager("sciences")
    )
    assert SECRET in [a.value for a in fetched.attributes]


def test_joining_by_email_keeps_one_record_and_its_core_fields(shared):
    joined = shared["joined"]
    assert joined.joined_existing
    assert joined.contact.id == shared["id"]
    assert joined.contact.first_name == "Marie"
    assert joined.contact.email == EMAIL
    assert list(joined.contact.member_components) == ["droit", "sciences"]


def test_b_never_sees_the_owner_only_attribute_on_create(shared):
    contact = shared["joined"].contact
    assert_no_secret(contact)
    keys = {(a.owner_component, a.key) for a in contact.attributes}
    assert keys == {("sciences", "promo"), ("sciences", "secteur"), ("droit", "note")}


def test_b_never_sees_it_on_get_list_or_set_attribute(server, shared):
    token = server.keys.manager("droit")
    assert_no_secret(server.call("GetContact", pb.GetContactRequest(id=shared["id"]), token))
    listed = server.call("ListContacts", pb.ListContactsRequest(), token)
    assert shared["id"] in [c.id for c in listed.contacts]
    assert_no_secret(listed)
    updated = server.call(
        "SetAttribute",
        pb.SetAttributeRequest(
            contact_id=shared["id"], attribute=attribute("don", "500", pb.VISIBILITY_OWNER)
        ),
        token,
    )
    assert_no_secret(updated)
    assert ("droit", "don", "500") in [
        (a.owner_component, a.key, a.value) for a in updated.attributes
    ]


def test_b_never_sees_it_in_error_messages(server, shared):
    token = server.keys.manager("droit")
    bad_key = pb.SetAttributeRequest(
        contact_id=shared["id"],
        attribute=attribute("Taxe Apprentissage", SECRET, pb.VISIBILITY_OWNER),
    )
    error = server.fails("SetAttribute", bad_key, token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert SECRET not in error_text(error)
    too_long = pb.SetAttributeRequest(
        contact_id=shared["id"],
        attribute=attribute("taxe_apprentissage", SECRET * 100, pb.VISIBILITY_OWNER),
    )
    error = server.fails("SetAttribute", too_long, token)
    assert SECRET not in error_text(error)


def test_a_non_member_sees_grouping_fields_only(server, shared):
    contact = server.call(
        "GetContact", pb.GetContactRequest(id=shared["id"]), server.keys.manager("medecine")
    )
    present = {f.name for f, _ in contact.ListFields()}
    assert present <= {
        "id",
        "kind",
        "display_name",
        "organisation",
        "member_components",
        "attributes",
    }
    assert contact.display_name == "Marie D."
    assert [(a.key, a.value) for a in contact.attributes] == [("secteur", "aeronautique")]
    assert_no_secret(contact)
    assert "+33" not in str(contact) and "marie.dupont" not in str(contact).lower()


def test_an_administrator_without_component_sees_grouping_fields_only(server, shared):
    contact = server.call("GetContact", pb.GetContactRequest(id=shared["id"]), server.keys.admin())
    assert not contact.HasField("email") and not contact.HasField("first_name")
    assert_no_secret(contact)


def test_a_non_member_may_neither_write_nor_list_another_component(server, shared):
    token = server.keys.manager("medecine")
    write = pb.SetAttributeRequest(
        contact_id=shared["id"], attribute=attribute("x", "y", pb.VISIBILITY_GROUPING)
    )
    error = server.fails("SetAttribute", write, token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert SECRET not in error_text(error)
    error = server.fails("ListContacts", pb.ListContactsRequest(member_of="sciences"), token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_service_lists_with_the_view_of_the_component_it_names(server, shared):
    service = server.keys.service("campaigns")
    error = server.fails("ListContacts", pb.ListContactsRequest(), service)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    as_b = server.call("ListContacts", pb.ListContactsRequest(member_of="droit"), service)
    assert_no_secret(as_b)
    assert [c.email for c in as_b.contacts if c.id == shared["id"]] == [EMAIL]


def test_owner_only_reads_are_audited_for_the_owner_only(server, shared):
    with server.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT subject, component, field FROM sensitive_reads WHERE contact_id = :id"),
            {"id": shared["id"]},
        ).all()
    assert ("manager@sciences", "sciences", "attr.taxe_apprentissage") in rows
    assert all(component != "medecine" for _, component, _ in rows)
    assert ("manager@droit", "droit", "attr.taxe_apprentissage") not in rows


def test_the_service_log_holds_no_private_value(server, shared):
    log = server.log_file.read_text(errors="replace")
    assert SECRET not in log
    assert "marie.dupont" not in log.lower()


def test_listing_pages_by_id_with_opaque_tokens(server, components):
    token = server.keys.manager("medecine")
    created = {
        server.call(
            "CreateContact",
            pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, email=f"page{i}@example.fr"),
            token,
        ).contact.id
        for i in range(5)
    }
    seen: list[str] = []
    page_token = ""
    while True:
        page = server.call(
            "ListContacts", pb.ListContactsRequest(page_size=2, page_token=page_token), token
        )
        assert len(page.contacts) <= 2
        seen += [c.id for c in page.contacts]
        page_token = page.next_page_token
        if not page_token:
            break
    assert seen == sorted(seen) and created <= set(seen) and len(seen) == len(set(seen))
    error = server.fails("ListContacts", pb.ListContactsRequest(page_token="garbage"), token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_concurrent_creates_of_one_email_make_one_record(server, components):
    start = threading.Barrier(8)
    results: list[pb.CreateContactResponse] = []
    errors: list[BaseException] = []

    def create(component: str) -> None:
        request = pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, email="race@example.fr")
        token = server.keys.manager(component)
        start.wait()
        try:
            results.append(server.call("CreateContact", request, token))
        except BaseException as error:  # collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(components[i % 3],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({r.contact.id for r in results}) == 1
    assert [r.joined_existing for r in results].count(False) == 1
    with server.engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM contacts WHERE email_normalised = 'race@example.fr'")
        ).scalar_one()
        members = connection.execute(
            text(
                "SELECT count(*) FROM memberships m JOIN contacts c ON c.id = m.contact_id "
                "WHERE c.email_normalised = 'race@example.fr'"
            )
        ).scalar_one()
    assert count == 1
    assert members == 3
