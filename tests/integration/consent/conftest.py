"""Real `crm serve contacts` and `crm serve consent` processes on fresh PostgreSQL databases.

One contacts process serves the whole consent test session; each test module
gets its own consent process, which asks that contacts process whether a
contact exists before it records anything.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from sqlalchemy import create_engine

from protos.crm.consent.v1 import consent_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2_grpc
from services.consent.clients import GrpcContacts
from tests.integration.campaigns.peers import CallLog, logged_channel
from tests.integration.consent.harness import OWNER, RunningConsent, RunningContacts, serve
from tests.support.processes import free_port
from tests.support.tokens import TestKeys


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> TestKeys:
    return TestKeys(tmp_path_factory.mktemp("consent-keys"))


@pytest.fixture(scope="session")
def contacts(keys: TestKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningContacts]:
    with serve("contacts", keys, tmp_path_factory.mktemp("contacts")) as (target, _url):
        with grpc.insecure_channel(target) as channel:
            running = RunningContacts(target, contacts_pb2_grpc.ContactsServiceStub(channel), keys)
            # Every component the consent tests' tokens name: the organisation must know them.
            for component in (OWNER, "sciences", "medicine"):
                running.add_component(component)
            yield running


@pytest.fixture(scope="module")
def consent(
    keys: TestKeys, contacts: RunningContacts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningConsent]:
    folder = tmp_path_factory.mktemp("consent")
    with serve("consent", keys, folder, contacts_target=contacts.target) as (target, url):
        engine = create_engine(url)
        try:
            with grpc.insecure_channel(target) as channel:
                stub = consent_pb2_grpc.ConsentServiceStub(channel)
                yield RunningConsent(
                    target, stub, channel, keys, engine, folder / "logs" / "consent.log", contacts
                )
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def consent_without_contacts(
    keys: TestKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningConsent]:
    """A consent process whose contacts service is down: nothing listens where it points."""
    folder = tmp_path_factory.mktemp("consent-alone")
    nowhere = f"127.0.0.1:{free_port()}"
    with serve("consent", keys, folder, contacts_target=nowhere) as (target, url):
        engine = create_engine(url)
        try:
            with grpc.insecure_channel(target) as channel:
                stub = consent_pb2_grpc.ConsentServiceStub(channel)
                yield RunningConsent(
                    target, stub, channel, keys, engine, folder / "logs" / "consent.log", None
                )
        finally:
            engine.dispose()


@pytest.fixture
def directory(keys: TestKeys, contacts: RunningContacts) -> Iterator[tuple[GrpcContacts, CallLog]]:
    """The real contacts service as consent reaches it, and a log of the calls made to it."""
    calls = CallLog()
    identity = keys.identity("consent")
    channel = logged_channel(contacts.target, identity.token, 10.0, calls)
    yield GrpcContacts(channel), calls
    channel.close()
