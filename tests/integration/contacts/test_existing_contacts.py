"""ExistingContacts over gRPC: which ids name a contact, for services of the mesh only."""

from __future__ import annotations

import uuid

import grpc
from sqlalchemy import event

from meshkit.db import Database
from meshkit.identity import ROLE_SERVICE, Principal
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts import service
from tests.integration.contacts.harness import ContactsServer, field_violations


def create(server: ContactsServer, component: str) -> str:
    request = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON, fields={"email": f"{uuid.uuid4().hex[:12]}@example.org"}
    )
    return str(server.call("CreateContact", request, server.keys.manager(component)).contact.id)


def test_it_answers_the_existing_ids_in_request_order_once_each(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    first, second = create(server, components[0]), create(server, components[1])
    unknown = str(uuid.uuid4())
    ids = [second, unknown, "not-a-uuid", first, second, first.upper(), ""]
    reply = server.call(
        "ExistingContacts", pb.ExistingContactsRequest(ids=ids), server.keys.service("consent")
    )
    assert list(reply.existing_ids) == [second, first]


def test_an_empty_batch_answers_nothing(server: ContactsServer) -> None:
    reply = server.call(
        "ExistingContacts", pb.ExistingContactsRequest(), server.keys.service("consent")
    )
    assert list(reply.existing_ids) == []


def test_components_and_administrators_cannot_probe_ids(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    known = create(server, components[0])
    request = pb.ExistingContactsRequest(ids=[known, str(uuid.uuid4())])
    for token in (server.keys.manager(components[0]), server.keys.admin()):
        error = server.fails("ExistingContacts", request, token)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert known not in (error.details() or "")
    assert server.fails("ExistingContacts", request, None).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )


def test_more_than_1000_ids_is_invalid(server: ContactsServer) -> None:
    request = pb.ExistingContactsRequest(ids=[str(uuid.uuid4()) for _ in range(1001)])
    error = server.fails("ExistingContacts", request, server.keys.service("consent"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == {"ids"}


def test_a_batch_of_1000_ids_is_three_queries(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    """Counted on the use case in this process, over the same database as the server."""
    known = [create(server, components[2]) for _ in range(3)]
    ids = known + [str(uuid.uuid4()) for _ in range(997)]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    db = Database(server.engine)
    event.listen(server.engine, "before_cursor_execute", count)
    try:
        found = service.existing_contacts(
            db, Principal("service:consent", roles=frozenset({ROLE_SERVICE})), ids
        )
    finally:
        event.remove(server.engine, "before_cursor_execute", count)
    assert found == [(i, frozenset({components[2]})) for i in known]
    # Merged-away ids to their survivors, then existence and kind, then member components.
    assert len(statements) == 3
