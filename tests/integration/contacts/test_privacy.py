"""No leak over gRPC: B joins A's contact and sees only its own values and what policy shares.

Every value belongs to the component that wrote it. A's owner-only attribute
(no policy: deny by default) never reaches B, in any answer or error; A's core
values (first name, phone) are not B's either unless a policy grants them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import (
    ContactsServer,
    declare,
    drop_policy,
    error_text,
    set_policy,
)

SECRET = "TAXE-12000-CONFIDENTIEL"
EMAIL = "Marie.Dupont@Example.fr"
OWNER = {"audience": "owner"}
MEMBERS = {"audience": "members"}
GROUPING = {"audience": "grouping"}


def assert_no_secret(message: Any) -> None:
    assert SECRET not in str(message)
    assert SECRET.encode() not in message.SerializeToString()


def values(contact: pb.Contact) -> dict[str, tuple[str, str]]:
    """field -> (value, owner component) as the caller sees it."""
    return {name: (v.value, v.owner_component) for name, v in contact.fields.items()}


def get(server: ContactsServer, contact_id: str, token: str) -> pb.Contact:
    return server.call("GetContact", pb.GetContactRequest(id=contact_id), token)


@pytest.fixture(scope="module")
def shared(server: ContactsServer, components: tuple[str, str, str]) -> dict[str, Any]:
    """A creates Marie with an owner-only tax amount; B creates the same email and joins."""
    a, b, _ = components
    declare(server, a, "taxe_apprentissage", "number")
    set_policy(server, declare(server, a, "promo"), read=[OWNER, MEMBERS])
    set_policy(server, declare(server, a, "secteur"), read=[GROUPING])
    declare(server, b, "note")
    declare(server, b, "don", "number")
    created = server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON,
            fields={
                "email": EMAIL,
                "first_name": "Marie",
                "last_name": "Dupont",
                "phone": "+33 1 23 45 67 89",
                "sciences.taxe_apprentissage": "12000",
                "sciences.promo": "2012",
                "sciences.secteur": "aeronautique",
                "postal_address": SECRET,
            },
        ),
        server.keys.manager(a),
    )
    joined = server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON,
            fields={
                "email": "  marie.dupont@EXAMPLE.FR ",
                "first_name": "Not Marie",
                "droit.note": "rencontre salon",
            },
        ),
        server.keys.manager(b),
    )
    return {"created": created, "joined": joined, "id": created.contact.id}


def test_the_owner_sees_its_own_values(server, components, shared):
    contact = shared["created"].contact
    assert not shared["created"].joined_existing
    assert values(contact)["sciences.taxe_apprentissage"] == ("12000", "sciences")
    fetched = get(server, shared["id"], server.keys.manager("sciences"))
    assert values(fetched)["postal_address"] == (SECRET, "sciences")
    assert values(fetched)["first_name"] == ("Marie", "sciences")
    assert values(fetched)["phone"] == ("+33123456789", "sciences")
    assert "droit.note" not in fetched.fields  # B's own note is B's alone


def test_joining_by_email_keeps_one_record_and_each_components_values(shared):
    joined = shared["joined"]
    assert joined.joined_existing
    assert joined.contact.id == shared["id"]
    assert list(joined.contact.member_components) == ["droit", "sciences"]
    seen = values(joined.contact)
    assert seen["first_name"] == ("Not Marie", "droit")  # its own, not A's
    assert seen["email"] == ("marie.dupont@EXAMPLE.FR", "droit")
    assert seen["droit.note"] == ("rencontre salon", "droit")
    for hidden in ("last_name", "phone", "postal_address"):
        assert hidden not in seen


def test_b_never_sees_the_owner_only_attribute_on_create(shared):
    contact = shared["joined"].contact
    assert_no_secret(contact)
    assert "12000" not in str(contact)
    attributes = {name for name in contact.fields if "." in name}
    assert attributes == {"sciences.promo", "sciences.secteur", "droit.note"}
    assert values(contact)["sciences.promo"] == ("2012", "sciences")


def test_b_joining_with_only_an_email_learns_nothing_of_a_values(server, components):
    """The defect of the old model: a join by address handed B A's first name and phone."""
    a, b, _ = components
    email = "jeanne.roux@example.fr"
    server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON,
            fields={
                "email": email,
                "first_name": "Jeanne",
                "last_name": "Roux",
                "phone": "+33 6 12 34 56 78",
                "job_title": "Directrice",
            },
        ),
        server.keys.manager(a),
    )
    b_token = server.keys.manager(b)
    joined = server.call(
        "CreateContact",
        pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, fields={"email": email}),
        b_token,
    )
    assert joined.joined_existing
    for contact in (joined.contact, get(server, joined.contact.id, b_token)):
        seen = values(contact)
        # its own address, and the display name the seeded policy shares with the grouping
        assert seen.pop("email") == (email, b)
        assert seen == {"display_name": ("Jeanne R.", a)}
        text = str(contact)
        for value in ("Roux", "+336", "Directrice", 'Jeanne"'):
            assert value not in text

    set_policy(server, "first_name", read=[OWNER, MEMBERS])
    try:
        seen = values(get(server, joined.contact.id, b_token))
        assert seen["first_name"] == ("Jeanne", a)  # a members grant shares it with B
        assert "phone" not in seen and "last_name" not in seen and "job_title" not in seen
        outsider = values(get(server, joined.contact.id, server.keys.manager("medecine")))
        assert "first_name" not in outsider  # members only: not a component that is not one
    finally:
        drop_policy(server, "first_name")
    assert "first_name" not in values(get(server, joined.contact.id, b_token))


def test_b_never_sees_it_on_get_search_or_update(server, shared):
    token = server.keys.manager("droit")
    contact = get(server, shared["id"], token)
    assert_no_secret(contact)
    searched = server.call("SearchContacts", pb.SearchContactsRequest(page_size=1000), token)
    assert shared["id"] in [c.id for c in searched.contacts]
    assert_no_secret(searched)
    assert "12000" not in str(searched)
    updated = server.call(
        "UpdateContact",
        pb.UpdateContactRequest(id=shared["id"], etag=contact.etag, set={"droit.don": "500"}),
        token,
    )
    assert_no_secret(updated)
    assert values(updated)["droit.don"] == ("500", "droit")
    assert "sciences.taxe_apprentissage" not in updated.fields


def test_b_never_sees_it_in_error_messages(server, shared):
    token = server.keys.manager("droit")
    etag = get(server, shared["id"], token).etag
    before = server.counts()
    bad_key = pb.UpdateContactRequest(
        id=shared["id"], etag=etag, set={"Taxe Apprentissage": SECRET}
    )
    error = server.fails("UpdateContact", bad_key, token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert SECRET not in error_text(error)
    too_long = pb.UpdateContactRequest(id=shared["id"], etag=etag, set={"droit.note": SECRET * 100})
    error = server.fails("UpdateContact", too_long, token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert SECRET not in error_text(error)
    # B may not write A's attribute: refused whole, A's value untouched, nothing echoed
    foreign = pb.UpdateContactRequest(
        id=shared["id"], etag=etag, set={"sciences.taxe_apprentissage": "0", "job_title": "x"}
    )
    error = server.fails("UpdateContact", foreign, token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "12000" not in error_text(error)
    assert server.counts() == before
    mine = get(server, shared["id"], server.keys.manager("sciences"))
    assert values(mine)["sciences.taxe_apprentissage"] == ("12000", "sciences")
    assert "job_title" not in get(server, shared["id"], token).fields


def test_a_non_member_sees_grouping_fields_only(server, shared):
    contact = get(server, shared["id"], server.keys.manager("medecine"))
    assert set(contact.fields) <= {"display_name", "organisation", "sciences.secteur"}
    assert values(contact)["sciences.secteur"] == ("aeronautique", "sciences")
    # derived from one member's own names: droit's comes first for an outsider (owner order)
    assert values(contact)["display_name"] in {("Marie D.", "sciences"), ("Not Marie", "droit")}
    assert_no_secret(contact)
    text = str(contact)
    assert "+33" not in text and "marie.dupont" not in text.lower() and "Dupont" not in text


def test_an_administrator_without_component_sees_grouping_fields_only(server, shared):
    contact = get(server, shared["id"], server.keys.admin())
    assert set(contact.fields) <= {"display_name", "organisation", "sciences.secteur"}
    assert "email" not in contact.fields and "first_name" not in contact.fields
    assert_no_secret(contact)


def test_a_non_member_may_neither_write_nor_search_another_component(server, shared):
    token = server.keys.manager("medecine")
    before = server.counts()
    etag = get(server, shared["id"], token).etag
    write = pb.UpdateContactRequest(id=shared["id"], etag=etag, set={"job_title": "y"})
    error = server.fails("UpdateContact", write, token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert SECRET not in error_text(error)
    error = server.fails("LeaveContact", pb.LeaveContactRequest(id=shared["id"]), token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = server.fails("SearchContacts", pb.SearchContactsRequest(member_of="sciences"), token)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert server.counts() == before


def test_a_service_draws_audience_ids_without_any_value_or_audit(server, shared):
    service = server.keys.service("campaigns")
    error = server.fails("AudienceIds", pb.AudienceIdsRequest(), service)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    reads = server.count("sensitive_reads")
    as_b = server.call("AudienceIds", pb.AudienceIdsRequest(component_id="droit"), service)
    assert shared["id"] in as_b.ids
    assert set(as_b.DESCRIPTOR.fields_by_name) == {"ids", "next_page_token"}
    assert_no_secret(as_b)
    assert server.count("sensitive_reads") == reads
    for token in (server.keys.manager("droit"), server.keys.admin()):
        request = pb.AudienceIdsRequest(component_id="droit")
        assert server.fails("AudienceIds", request, token).code() == (
            grpc.StatusCode.PERMISSION_DENIED
        )
    # SearchContacts is for callers acting for a component, not for services
    error = server.fails("SearchContacts", pb.SearchContactsRequest(member_of="droit"), service)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_protected_reads_are_audited_with_their_owner_and_route(server, shared):
    get(server, shared["id"], server.keys.manager("sciences"))
    get(server, shared["id"], server.keys.manager("droit"))
    get(server, shared["id"], server.keys.manager("medecine"))
    rows = set(
        server.sql(
            "SELECT subject, component, field, owner_component, route FROM sensitive_reads"
            " WHERE contact_id = :id",
            id=shared["id"],
        )
    )
    taxe = "sciences.taxe_apprentissage"
    assert ("manager@sciences", "sciences", taxe, "sciences", "GetContact") in rows
    assert ("manager@sciences", "sciences", taxe, "sciences", "CreateContact") in rows
    # B's read of A's members-only value is audited for A, the owner
    assert ("manager@droit", "droit", "sciences.promo", "sciences", "GetContact") in rows
    assert ("manager@droit", "droit", "sciences.promo", "sciences", "CreateContact") in rows
    assert all(component != "medecine" for _, component, *_ in rows)  # grouping-readable only
    assert not any(f == taxe and c == "droit" for _, c, f, *_ in rows)
    # a value every component may read is no sensitive read
    assert not any(f in ("sciences.secteur", "display_name") for _, _, f, *_ in rows)


def test_the_service_log_holds_no_private_value(server, shared):
    log = server.log_file.read_text(errors="replace")
    assert SECRET not in log
    assert "marie.dupont" not in log.lower()


def test_search_pages_by_id_with_opaque_tokens(server, components):
    token = server.keys.manager("medecine")
    created = {
        server.call(
            "CreateContact",
            pb.CreateContactRequest(
                kind=pb.CONTACT_KIND_PERSON, fields={"email": f"page{i}@example.fr"}
            ),
            token,
        ).contact.id
        for i in range(5)
    }
    seen: list[str] = []
    page_token = ""
    while True:
        page = server.call(
            "SearchContacts", pb.SearchContactsRequest(page_size=2, page_token=page_token), token
        )
        assert len(page.contacts) <= 2
        seen += [c.id for c in page.contacts]
        page_token = page.next_page_token
        if not page_token:
            break
    assert seen == sorted(seen) and created <= set(seen) and len(seen) == len(set(seen))
    error = server.fails("SearchContacts", pb.SearchContactsRequest(page_token="garbage"), token)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def racers(server: ContactsServer, components: tuple[str, str, str]) -> Iterator[list[str]]:
    """Eight components, so that each racer's create is a first create for its component."""
    ids = [f"race-{i}" for i in range(8)]
    for component_id in ids:
        request = pb.CreateComponentRequest(id=component_id, name=component_id)
        server.call("CreateComponent", request, server.keys.admin())
    yield ids


def test_concurrent_creates_of_one_email_make_one_record(server, racers):
    start = threading.Barrier(len(racers))
    results: list[pb.CreateContactResponse] = []
    errors: list[BaseException] = []

    def create(component: str) -> None:
        request = pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON, fields={"email": "race@example.fr"}
        )
        token = server.keys.manager(component)
        start.wait()
        try:
            results.append(server.call("CreateContact", request, token))
        except BaseException as error:  # collected and reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(c,)) for c in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({r.contact.id for r in results}) == 1
    assert [r.joined_existing for r in results].count(False) == 1
    (contact_id,) = {r.contact.id for r in results}
    assert server.sql(
        "SELECT contact_id FROM contact_addresses WHERE address = 'race@example.fr'"
    ) == [(contact_id,)]
    holders = server.sql(
        "SELECT DISTINCT contact_id FROM contact_values WHERE field = 'email'"
        " AND lower(value) = 'race@example.fr'"
    )
    assert holders == [(contact_id,)]
    members = server.sql(
        "SELECT component_id FROM memberships WHERE contact_id = :id", id=contact_id
    )
    assert sorted(m for (m,) in members) == racers
    # the losers' own rows were removed: no contact without a member remains
    orphans = server.sql(
        "SELECT count(*) FROM contacts c WHERE NOT EXISTS"
        " (SELECT 1 FROM memberships m WHERE m.contact_id = c.id)"
    )
    assert orphans == [(0,)]


def test_creating_again_for_the_same_component_names_the_record(server, components):
    token = server.keys.manager("sciences")
    request = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON, fields={"email": "twice@example.fr", "first_name": "Un"}
    )
    first = server.call("CreateContact", request, token).contact
    before = server.counts()
    again = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON, fields={"email": "TWICE@example.fr", "first_name": "Deux"}
    )
    error = server.fails("CreateContact", again, token)
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.id in (error.details() or "")
    assert "twice" not in error_text(error).lower() and "Deux" not in error_text(error)
    assert server.counts() == before
    assert values(get(server, first.id, token))["first_name"] == ("Un", "sciences")


def test_a_create_naming_addresses_of_two_contacts_is_refused_whole(server, components):
    """One address, one contact: a join must not leave an address on two records."""
    a, b, c = components
    first = server.call(
        "CreateContact",
        pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, fields={"email": "aa-one@example.fr"}),
        server.keys.manager(a),
    ).contact
    second = server.call(
        "CreateContact",
        pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, fields={"email": "zz-two@example.fr"}),
        server.keys.manager(c),
    ).contact
    before = server.counts()
    both = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON,
        fields={"email": "aa-one@example.fr", "private_email": "ZZ-two@example.fr"},
    )
    error = server.fails("CreateContact", both, server.keys.manager(b))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "two@" not in error_text(error).lower() and "one@" not in error_text(error).lower()
    assert server.counts() == before
    holders = server.sql(
        "SELECT DISTINCT contact_id FROM contact_values WHERE lower(value) = 'zz-two@example.fr'"
    )
    assert holders == [(second.id,)]
    assert b not in get(server, first.id, server.keys.manager(a)).member_components
