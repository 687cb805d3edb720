"""SearchContacts and AudienceIds over gRPC on a real contacts process: no side channel on
hidden fields, no audit rows and no values for audiences, tokens bound to their query.

Attributes and field policies are written straight into the contacts database
(DefineAttribute and SetFieldPolicy are not served on this branch yet).
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from sqlalchemy import insert, update

from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.models import AttributeDefinitionRow, FieldPolicyRow, ValueRow
from tests.integration.contacts.harness import ContactsServer, error_text, field_violations

A, B = "sciences", "droit"


def editor(server: ContactsServer, component: str) -> str:
    return server.keys.issuer.mint(
        f"editor@{component}", component=component, roles=["contact_editor", "viewer"]
    )


@pytest.fixture(scope="module")
def world(server: ContactsServer, components: tuple[str, str, str]) -> dict[str, str]:
    """A holds an owner-only attribute and a grouping-readable one; B joined one contact."""
    with server.engine.begin() as connection:
        for key, kind in (("secret", "text"), ("budget", "number")):
            connection.execute(
                insert(AttributeDefinitionRow).values(
                    component_id=A, key=key, type=kind, choices=[]
                )
            )
        connection.execute(
            insert(FieldPolicyRow).values(
                field=f"{A}.budget",
                read=[{"audience": "grouping"}],
                write=[{"audience": "owner"}],
                updated_by="admin@grouping",
            )
        )
    ids = {}
    for name, budget in (("shared", "12"), ("alone", "3000")):
        address = f"{name}.{uuid.uuid4().hex[:6]}@example.org"
        request = pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON,
            fields={
                "email": address,
                "first_name": "Zed",
                f"{A}.secret": "dossier 42",
                f"{A}.budget": budget,
            },
        )
        ids[name] = server.call("CreateContact", request, editor(server, A)).contact.id
        ids[f"{name}_address"] = address
    joined = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON, fields={"email": ids["shared_address"], "first_name": "Bob"}
    )
    assert server.call("CreateContact", joined, editor(server, B)).joined_existing
    return ids


def search(server: ContactsServer, token: str, *filters: pb.FieldFilter, **more: object) -> list:
    reply = server.call("SearchContacts", pb.SearchContactsRequest(filters=filters, **more), token)
    return [c.id for c in reply.contacts]


def test_a_hidden_field_and_an_unknown_field_are_refused_alike(
    server: ContactsServer, world: dict[str, str]
) -> None:
    token = editor(server, B)
    hidden = server.fails(
        "SearchContacts",
        pb.SearchContactsRequest(filters=[pb.FieldFilter(field=f"{A}.secret", equals="x")]),
        token,
    )
    unknown = server.fails(
        "SearchContacts",
        pb.SearchContactsRequest(filters=[pb.FieldFilter(field=f"{A}.nothing", equals="x")]),
        token,
    )
    assert hidden.code() is unknown.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert hidden.details() == unknown.details()  # type: ignore[attr-defined]
    assert (
        field_violations(hidden)
        == field_violations(unknown)
        == {"filters[0].field": "is not a field the caller may filter on"}
    )
    assert error_text(hidden) == error_text(unknown)
    # A itself may filter on its own secret.
    secret = pb.FieldFilter(field=f"{A}.secret", equals="dossier 42")
    assert sorted(search(server, editor(server, A), secret)) == sorted(
        [world["shared"], world["alone"]]
    )


def test_what_b_finds_does_not_move_when_a_hidden_values_change(
    server: ContactsServer, world: dict[str, str]
) -> None:
    token = editor(server, B)
    by_name = {n: pb.FieldFilter(field="first_name", equals=n) for n in ("Zed", "Bob")}
    before = {n: search(server, token, f) for n, f in by_name.items()}
    assert before == {"Zed": [], "Bob": [world["shared"]]}  # A's "Zed" is A's alone
    with server.engine.begin() as connection:  # A's own first name becomes "Bob", then "Zed"
        for value in ("Bob", "Zed"):
            connection.execute(
                update(ValueRow)
                .where(ValueRow.contact_id == world["shared"], ValueRow.owner_component == A)
                .where(ValueRow.field == "first_name")
                .values(value=value)
            )
            assert {n: search(server, token, f) for n, f in by_name.items()} == before


def test_numbers_filter_by_value_with_a_readable_grouping_policy(
    server: ContactsServer, world: dict[str, str]
) -> None:
    budget = pb.FieldFilter(field=f"{A}.budget", range=pb.Range(min="100"))
    assert search(server, editor(server, B), budget) == []  # "alone" is not B's contact
    assert search(server, editor(server, A), budget) == [world["alone"]]  # 3000 > 100 > 12


def test_a_page_token_resumes_only_its_own_query(
    server: ContactsServer, world: dict[str, str]
) -> None:
    token = editor(server, A)
    secret = pb.FieldFilter(field=f"{A}.secret", equals="dossier 42")
    first = server.call(
        "SearchContacts", pb.SearchContactsRequest(filters=[secret], page_size=1), token
    )
    assert first.next_page_token
    other = server.fails(
        "SearchContacts",
        pb.SearchContactsRequest(page_size=1, page_token=first.next_page_token),
        token,
    )
    assert field_violations(other) == {"page_token": "is not a token returned by this listing"}
    rest = server.call(
        "SearchContacts",
        pb.SearchContactsRequest(filters=[secret], page_size=1, page_token=first.next_page_token),
        token,
    )
    assert len(rest.contacts) == 1 and rest.contacts[0].id != first.contacts[0].id


def test_audience_ids_filter_as_the_component_and_write_no_audit_rows(
    server: ContactsServer, world: dict[str, str]
) -> None:
    before = server.count("sensitive_reads")
    secret = pb.FieldFilter(field=f"{A}.secret", equals="dossier 42")
    request = pb.AudienceIdsRequest(component_id=A, filters=[secret])
    reply = server.call("AudienceIds", request, server.keys.service("campaigns"))
    assert sorted(reply.ids) == sorted([world["shared"], world["alone"]])
    as_b = pb.AudienceIdsRequest(component_id=B, filters=[secret])
    hidden = server.fails("AudienceIds", as_b, server.keys.service("campaigns"))
    assert field_violations(hidden) == {
        "filters[0].field": "is not a field the caller may filter on"
    }
    assert server.count("sensitive_reads") == before  # no value read, nothing audited
    search(server, editor(server, A), secret)  # the same filter in a search is audited
    assert server.count("sensitive_reads") > before
    refused = server.fails("AudienceIds", request, editor(server, A))
    assert refused.code() is grpc.StatusCode.PERMISSION_DENIED
