"""When consent cannot say who is suppressed, an import writes nothing and says so (503)."""

from __future__ import annotations

import grpc

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import ContactsServer


def test_an_import_fails_clearly_and_writes_nothing_while_consent_is_down(
    server: ContactsServer, components: tuple[str, str, str]
) -> None:
    token = server.keys.issuer.mint("e@sciences", component=components[0], roles=["contact_editor"])
    before = server.counts()
    request = pb.ImportContactsRequest(
        import_id="while-consent-is-down",
        first_line=2,
        rows=[pb.ImportRow(line=2, kind=pb.CONTACT_KIND_PERSON, fields={"email": "a@example.org"})],
    )
    error = server.fails("ImportContacts", request, token)
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert "nothing was imported" in error.details()  # type: ignore[attr-defined]
    assert server.counts() == before
    # A row with no address asks consent nothing: it needs no suppression check.
    phone_only = pb.ImportRow(line=2, kind=pb.CONTACT_KIND_PERSON, fields={"phone": "0123456789"})
    request = pb.ImportContactsRequest(import_id="phones", first_line=2, rows=[phone_only])
    (report,) = server.call("ImportContacts", request, token).rows
    assert report.outcome == pb.ROW_OUTCOME_CREATED
