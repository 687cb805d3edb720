"""Server reflection answers in both protocols, v1 and v1alpha, on every service's server.

The Node.js client of tests/interop asks the same of the real processes with the
official .proto files of both protocols; here a server built by build_server is
asked in-process, which runs everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from meshkit.grpc_server import build_server
from protos.crm.contacts.v1 import contacts_pb2_grpc
from tests.support.processes import free_port
from tests.support.tokens import TestKeys

CONTACTS = "crm.contacts.v1.ContactsService"
METHODS = {
    "v1": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "v1alpha": "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    keys = TestKeys(tmp_path_factory.mktemp("keys"))

    def register(server: grpc.Server) -> None:
        # Every method unimplemented: reflection describes, it never calls.
        servicer = contacts_pb2_grpc.ContactsServiceServicer()  # type: ignore[abstract]
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server(servicer, server)

    server, _ = build_server(keys.verifier, [(CONTACTS, register)])
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    server.start()
    yield address
    server.stop(0)


def ask(
    target: str, protocol: str, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    """One request on one protocol's method, without any token.

    v1alpha's classes write and read v1's messages too: the protocols differ only by
    their package name, never on the wire (the Node.js test uses v1's own .proto).
    """
    with grpc.insecure_channel(target) as channel:
        call = channel.stream_stream(
            METHODS[protocol],
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        replies = list(call(iter([request]), timeout=5))
    assert len(replies) == 1
    return replies[0]


def files_of(
    reply: reflection_pb2.ServerReflectionResponse,
) -> list[descriptor_pb2.FileDescriptorProto]:
    assert reply.WhichOneof("message_response") == "file_descriptor_response", reply
    return [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in reply.file_descriptor_response.file_descriptor_proto
    ]


@pytest.mark.parametrize("protocol", sorted(METHODS))
def test_both_protocols_list_the_services(target: str, protocol: str) -> None:
    reply = ask(target, protocol, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in reply.list_services_response.service}
    assert names == {
        CONTACTS,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }


@pytest.mark.parametrize("protocol", sorted(METHODS))
def test_both_protocols_describe_a_service(target: str, protocol: str) -> None:
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=CONTACTS)
    files = files_of(ask(target, protocol, request))
    first = files[0]  # the file declaring the symbol, then its dependencies
    assert first.package == "crm.contacts.v1"
    methods = {m.name for s in first.service if s.name == "ContactsService" for m in s.method}
    assert "GetContact" in methods
    assert set(first.dependency) <= {f.name for f in files}  # a client can build it alone


@pytest.mark.parametrize("protocol", sorted(METHODS))
def test_an_unknown_symbol_is_not_found(target: str, protocol: str) -> None:
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Service")
    reply = ask(target, protocol, request)
    assert reply.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_v1_describes_itself_under_its_own_package(target: str) -> None:
    symbol = "grpc.reflection.v1.ServerReflection"
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    (own,) = files_of(ask(target, "v1", request))
    assert (own.name, own.package) == ("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1")
    (method,) = own.service[0].method
    assert method.name == "ServerReflectionInfo"
    assert method.client_streaming and method.server_streaming
    assert method.input_type == ".grpc.reflection.v1.ServerReflectionRequest"
    assert method.output_type == ".grpc.reflection.v1.ServerReflectionResponse"
    for message in own.message_type:
        for field in message.field:
            assert "v1alpha" not in field.type_name


def test_grpc_python_reflection_client_builds_the_service(target: str) -> None:
    """gRPC Python's own v1alpha client rebuilds the contacts service from the server alone."""
    with grpc.insecure_channel(target) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName(CONTACTS)
        assert service.FindMethodByName("GetContact").input_type.full_name == (
            "crm.contacts.v1.GetContactRequest"
        )
