"""A real `crm serve contacts` process on a fresh PostgreSQL database, one per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import create_engine

from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from tests.integration.contacts.harness import ContactsServer
from tests.support.processes import free_port, service_process, wait_grpc_healthy
from tests.support.stores import fresh_postgres
from tests.support.tokens import TestKeys


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContactsServer]:
    """Contacts alone: its consent target is a port nothing listens on (imports get 503)."""
    folder = tmp_path_factory.mktemp("contacts")
    keys = TestKeys(folder / "keys")
    yield from contacts_process(folder, keys, f"127.0.0.1:{free_port()}")


def contacts_with_consent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContactsServer]:
    """Contacts beside a real consent process, whose suppression list imports check."""
    folder = tmp_path_factory.mktemp("contacts")
    keys = TestKeys(folder / "keys")
    contacts_target = f"127.0.0.1:{free_port()}"
    consent_target = f"127.0.0.1:{free_port()}"
    with fresh_postgres("consent") as consent_url:
        env = {
            **keys.env("CONSENT_"),
            "CONSENT_LISTEN": consent_target,
            "CONSENT_DATABASE_URL": consent_url,
            "CONSENT_CONTACTS_TARGET": contacts_target,
            "CRM_HOME": str(folder / "home"),
        }
        with service_process("consent", env, folder / "logs"):
            wait_grpc_healthy(consent_target)
            for server in contacts_process(folder, keys, consent_target, contacts_target):
                server.consent_target = consent_target
                yield server


def contacts_process(
    folder: Path, keys: TestKeys, consent_target: str, target: str | None = None
) -> Iterator[ContactsServer]:
    """`crm serve contacts` on a fresh PostgreSQL database, with a stub and an engine."""
    target = target or f"127.0.0.1:{free_port()}"
    with fresh_postgres("contacts") as database_url:
        env = {
            **keys.env("CONTACTS_"),
            "CONTACTS_LISTEN": target,
            "CONTACTS_DATABASE_URL": database_url,
            "CONTACTS_CONSENT_TARGET": consent_target,
            "CRM_HOME": str(folder / "home"),
        }
        with service_process("contacts", env, folder / "logs") as process:
            wait_grpc_healthy(target)
            assert process.poll() is None
            engine = create_engine(database_url)
            channel = grpc.insecure_channel(target)
            try:
                yield ContactsServer(
                    target,
                    keys,
                    contacts_pb2_grpc.ContactsServiceStub(channel),
                    channel,
                    engine,
                    folder / "logs" / "contacts.log",
                )
            finally:
                channel.close()
                engine.dispose()


@pytest.fixture(scope="module")
def components(server: ContactsServer) -> tuple[str, str, str]:
    """Components A, B and C, registered by an administrator."""
    ids = ("sciences", "droit", "medecine")
    for component_id in ids:
        request = pb.CreateComponentRequest(id=component_id, name=component_id.title())
        server.call("CreateComponent", request, server.keys.admin())
    return ids
