"""A real `crm serve contacts` process on a fresh PostgreSQL database, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

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
    folder = tmp_path_factory.mktemp("contacts")
    keys = TestKeys(folder / "keys")
    with fresh_postgres("contacts") as database_url:
        target = f"127.0.0.1:{free_port()}"
        env = {
            **keys.env("CONTACTS_"),
            "CONTACTS_LISTEN": target,
            "CONTACTS_DATABASE_URL": database_url,
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
