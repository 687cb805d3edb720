"""ImportContacts and GetImport against a real contacts process on PostgreSQL.

Contacts runs beside a real consent process: every import checks its suppression list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.conftest import contacts_with_consent
from tests.integration.contacts.harness import ContactsServer, field_violations

PERSON = pb.CONTACT_KIND_PERSON
OUTCOME = {
    pb.ROW_OUTCOME_CREATED: "created",
    pb.ROW_OUTCOME_JOINED: "joined",
    pb.ROW_OUTCOME_UPDATED: "updated",
    pb.ROW_OUTCOME_UNCHANGED: "unchanged",
    pb.ROW_OUTCOME_REJECTED: "rejected",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContactsServer]:
    yield from contacts_with_consent(tmp_path_factory)


def editor(server: ContactsServer, component: str) -> str:
    return server.keys.issuer.mint(
        f"editor@{component}", component=component, roles=["contact_editor"]
    )


def rows(*fields: dict[str, str], first: int = 2) -> list[pb.ImportRow]:
    return [pb.ImportRow(line=first + i, kind=PERSON, fields=f) for i, f in enumerate(fields)]


def send(
    server: ContactsServer, token: str, import_id: str, batch: list[pb.ImportRow], dry: bool = False
) -> list[pb.RowReport]:
    request = pb.ImportContactsRequest(
        import_id=import_id, first_line=batch[0].line, rows=batch, dry_run=dry
    )
    return list(server.call("ImportContacts", request, token).rows)


def outcomes(reports: list[pb.RowReport]) -> list[str]:
    return [OUTCOME[r.outcome] for r in reports]


def table(server: ContactsServer, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with server.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text(sql), params)]


def test_a_batch_creates_joins_updates_and_rejects_row_by_row(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    a, b, _ = components
    token_a, token_b = editor(server, a), editor(server, b)
    first = send(
        server,
        token_a,
        "a-1",
        rows(
            {"email": "Alice@Example.org", "first_name": "Alice"},
            {"email": "not an address", "first_name": "X"},
            {"email": "alice@example.org ", "last_name": "Martin"},  # same address: same contact
            {"phone": "01 23 45 67 89", "first_name": "Phone"},
            {"phone": "12", "first_name": "Bad phone"},
            {"first_name": "Nobody"},
            {"email": "bob@example.org", "droit.secret": "x"},
        ),
    )
    assert outcomes(first) == [
        "created", "rejected", "updated", "created", "rejected", "rejected", "rejected",
    ]  # fmt: skip
    alice = first[0].contact_id
    assert first[2].contact_id == alice and first[2].same_as_line == 2
    assert [(p.column, p.description) for p in first[1].problems] == [
        ("email", "must be a valid email address")
    ]
    assert first[4].problems[0].column == "phone"
    assert first[5].problems[0].column == "email"
    assert first[6].problems[0].column == "droit.secret"
    assert not any(r.contact_id for r in first if r.outcome == pb.ROW_OUTCOME_REJECTED)
    phone = table(
        server,
        "SELECT value FROM contact_values WHERE contact_id = :id AND field = 'phone'",
        id=first[3].contact_id,
    )
    assert phone == [("+33123456789",)]
    a_values = "SELECT * FROM contact_values WHERE owner_component = :c ORDER BY contact_id, field"
    before = table(server, a_values, c=a)

    # Another component: joins Alice by her address, keeps its own values, changes none of A's.
    joined = send(
        server, token_b, "b-1", rows({"email": "ALICE@example.org", "first_name": "Alicia"})
    )
    assert outcomes(joined) == ["joined"] and joined[0].contact_id == alice
    assert table(server, a_values, c=a) == before
    members = table(server, "SELECT component_id FROM memberships WHERE contact_id = :id", id=alice)
    assert sorted(m[0] for m in members) == sorted([a, b])

    # The same batch again: the stored report, nothing written.
    changes = server.count("contact_changes")
    assert send(server, token_b, "b-1", rows({"email": "x@example.org"})) == joined
    assert server.count("contact_changes") == changes

    # The same rows under a new id: nothing changes.
    again = send(
        server, token_b, "b-2", rows({"email": "ALICE@example.org", "first_name": "Alicia"})
    )
    assert outcomes(again) == ["unchanged"] and server.count("contact_changes") == changes

    status = server.call("GetImport", pb.GetImportRequest(import_id="a-1"), token_a)
    assert status.last_line == 8
    assert dict(status.counts) == {"created": 2, "updated": 1, "rejected": 4}


def test_a_dry_run_decides_without_writing(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    a, _, c = components
    tables = ("contacts", "contact_values", "contact_addresses", "memberships", "import_batches")
    before = {t: server.count(t) for t in tables}
    report = send(server, editor(server, c), "dry", rows({"email": "dry@example.org"}), dry=True)
    assert outcomes(report) == ["created"]
    assert {t: server.count(t) for t in tables} == before
    status = server.call("GetImport", pb.GetImportRequest(import_id="dry"), editor(server, c))
    assert status.last_line == 0 and not status.counts


def test_import_needs_the_contact_editor_role_and_a_well_formed_batch(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    a = components[0]
    request = pb.ImportContactsRequest(
        import_id="r", first_line=2, rows=rows({"email": "r@example.org"})
    )
    manager = server.keys.issuer.mint(f"m@{a}", component=a, roles=["campaign_manager"])
    error = server.fails("ImportContacts", request, manager)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    too_many = rows(*({"email": f"m{i}@example.org"} for i in range(1001)))
    bad = pb.ImportContactsRequest(import_id="bad id!", first_line=3, rows=too_many)
    error = server.fails("ImportContacts", bad, editor(server, a))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == {"import_id", "rows"}


def _suppress(server: ContactsServer, *addresses: str) -> None:
    """Lists addresses on the consent process's suppression list, as the dpo."""
    with grpc.insecure_channel(server.consent_target) as channel:
        request = consent_pb2.SuppressRequest(
            addresses=addresses, reason=consent_pb2.SUPPRESSION_REASON_ERASED
        )
        token = server.keys.issuer.mint("dpo@grouping", roles=["dpo"])
        consent_pb2_grpc.ConsentServiceStub(channel).Suppress(
            request, metadata=[("authorization", f"Bearer {token}")], timeout=10
        )


def test_rows_whose_address_is_suppressed_are_rejected_and_written_nowhere(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    a = components[0]
    _suppress(server, "erased.person@example.org", "objected@example.org")
    before = server.counts()
    batch = rows(
        {"email": " Erased.Person@EXAMPLE.org ", "first_name": "Gone"},
        {"email": "kept@example.org", "private_email": "objected@example.org"},
        {"email": "welcome@example.org", "first_name": "Ok"},
    )
    for dry in (True, False):
        reports = send(server, editor(server, a), f"suppressed-{dry}", batch, dry=dry)
        assert outcomes(reports) == ["rejected", "rejected", "created"]
        assert [p.column for p in reports[0].problems] == ["email"]
        assert [p.column for p in reports[1].problems] == ["private_email"]
        assert "suppression list" in reports[1].problems[0].description
        assert "objected@" not in str(reports)  # the value is never echoed
    found = table(
        server,
        "SELECT count(*) FROM contact_values WHERE lower(value) LIKE :a OR lower(value) LIKE :b",
        a="%erased.person%",
        b="%objected@%",
    )
    assert found == [(0,)]
    assert server.counts()["contacts"] == before["contacts"] + 1
