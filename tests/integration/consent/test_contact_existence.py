"""Consent is recorded only for contacts that exist, as the contacts service says.

Real processes: consent asks a real contacts process (ExistingContacts, as
`service:consent`); "contacts down" is a consent process pointed where nothing
listens. Every refusal leaves the consent_events table as it was.
"""

from __future__ import annotations

import uuid

import grpc
import pytest

from meshkit.db import Database
from meshkit.errors import NotFound, Unavailable
from meshkit.grpc_client import open_channel
from meshkit.identity import Principal
from protos.crm.consent.v1 import consent_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2
from services.consent import service
from services.consent.clients import GrpcContacts
from services.consent.domain import Channel, Scope
from services.consent.validation import ChangeRequest
from tests.integration.campaigns.peers import CallLog
from tests.integration.consent.harness import (
    GROUPING,
    TIMEOUT,
    RunningConsent,
    RunningContacts,
    change,
    component,
    history,
)
from tests.integration.consent.test_errors_and_identity import violations_of
from tests.support.processes import free_port

WRITES = ["Grant", "Withdraw"]
MALFORMED = [
    "not-a-uuid",
    "contact-0123456789ab",
    # Fixed ids: test ids must be the same in every collection (pytest-xdist workers).
    "CB99E2C4-DEF3-40E0-A466-D8DB060913D2",
    "{ca0611d4-7fb3-4c3a-8b69-a5ab4fa98d61}",
]


def call(consent: RunningConsent, method: str, token: str, message: pb.ConsentChange) -> object:
    return getattr(consent.stub, method)(message, metadata=consent.auth(token), timeout=TIMEOUT)


def refused(
    consent: RunningConsent, method: str, token: str, message: pb.ConsentChange
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(consent, method, token, message)
    return caught.value


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("contact_id", MALFORMED)
def test_a_malformed_id_is_invalid_and_writes_nothing(
    consent: RunningConsent, method: str, contact_id: str
) -> None:
    rows = consent.rows()
    error = refused(
        consent, method, consent.keys.manager("law"), change(contact_id, component("law"))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(error) == {"contact_id"}
    assert contact_id not in (error.details() or "")
    assert consent.rows() == rows


@pytest.mark.parametrize("method", WRITES)
def test_an_unknown_id_is_not_found_and_writes_nothing(
    consent: RunningConsent, method: str
) -> None:
    unknown = str(uuid.uuid4())
    rows = consent.rows()
    error = refused(consent, method, consent.keys.manager("law"), change(unknown, component("law")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "contact not found"
    assert consent.rows() == rows
    assert history(consent, consent.keys.admin(), unknown) == []


def test_an_unknown_id_from_a_one_click_link_writes_nothing(consent: RunningConsent) -> None:
    """The gateway withdraws for a signed link as `service:gateway`: checked all the same."""
    unknown = str(uuid.uuid4())
    rows = consent.rows()
    message = change(unknown, GROUPING, source="one-click-unsubscribe", text_shown="campaign c-1")
    error = refused(consent, "Withdraw", consent.keys.service("gateway"), message)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert consent.rows() == rows


@pytest.mark.parametrize("method", WRITES)
def test_an_existing_contact_is_recorded(consent: RunningConsent, method: str) -> None:
    contact = consent.new_contact()
    rows = consent.rows()
    event = call(consent, method, consent.keys.manager("law"), change(contact, component("law")))
    assert event.contact_id == contact  # type: ignore[attr-defined]
    assert consent.rows() == rows + 1
    assert [e.id for e in history(consent, consent.keys.admin(), contact)] == [event.id]  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", WRITES)
def test_contacts_down_is_unavailable_and_writes_nothing(
    consent_without_contacts: RunningConsent, method: str
) -> None:
    consent = consent_without_contacts
    message = change(str(uuid.uuid4()), component("law"))
    error = refused(consent, method, consent.keys.manager("law"), message)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert consent.rows() == 0


def test_a_component_token_cannot_ask_contacts_which_ids_exist(
    consent: RunningConsent, contacts: RunningContacts
) -> None:
    known = consent.new_contact()
    request = contacts_pb2.ExistingContactsRequest(ids=[known])
    with pytest.raises(grpc.RpcError) as caught:
        contacts.stub.ExistingContacts(
            request, metadata=consent.auth(consent.keys.manager("law")), timeout=TIMEOUT
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_directory_asks_once_per_batch_as_the_consent_service(
    consent: RunningConsent, directory: tuple[GrpcContacts, CallLog]
) -> None:
    contacts, calls = directory
    known = [consent.new_contact() for _ in range(3)]
    ids = [str(uuid.uuid4()) for _ in range(997)] + known
    assert contacts.existing(ids) == set(known)
    [asked] = calls.named("ExistingContacts")
    assert list(asked.request.ids) == ids
    claims = consent.keys.verifier.verify(asked.authorization.removeprefix("Bearer "))
    assert claims.subject == "service:consent" and claims.is_service
    # Beyond what one call may carry, one call per full batch, never one per id.
    mark = calls.mark()
    assert contacts.existing(ids + [str(uuid.uuid4()) for _ in range(1500)]) == set(known)
    assert len(calls.since(mark, "ExistingContacts")) == 3


def test_a_write_asks_contacts_once_and_an_unknown_id_stops_it(
    consent: RunningConsent, directory: tuple[GrpcContacts, CallLog]
) -> None:
    """In this process, over the consent database of the running service."""
    contacts, calls = directory
    db = Database(consent.database)
    manager = Principal("alice@law", component="law", roles=frozenset({"campaign_manager"}))

    def request(contact_id: str) -> ChangeRequest:
        return ChangeRequest(
            contact_id, Channel.EMAIL, "newsletter", Scope.of("law"), None, "web", "Yes"
        )

    event = service.grant(db, contacts, manager, request(consent.new_contact()))
    assert len(calls.named("ExistingContacts")) == 1
    rows = consent.rows()
    with pytest.raises(NotFound):
        service.withdraw(db, contacts, manager, request(str(uuid.uuid4())))
    assert consent.rows() == rows
    assert len(calls.named("ExistingContacts")) == 2
    history = service.history(db, contacts, manager, event.contact_id).events
    assert [e.id for e in history] == [event.id]


def test_an_unreachable_directory_is_unavailable() -> None:
    channel = open_channel(f"127.0.0.1:{free_port()}", lambda: "token", 2.0)
    try:
        with pytest.raises(Unavailable):
            GrpcContacts(channel).existing([str(uuid.uuid4())])
    finally:
        channel.close()
