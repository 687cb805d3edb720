"""The server skeleton and the client: auth on every RPC, errors mapped both ways, deadlines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from meshkit import errors
from meshkit.grpc_client import domain_error, open_channel
from meshkit.grpc_server import build_server
from meshkit.identity import current_principal
from tests.support.processes import free_port
from tests.support.tokens import TestKeys

METHOD = "/test.Probe/Call"
UNAVAILABLE_CALLS: list[str] = []


def _behaviour(request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
    principal = current_principal()
    if principal.subject == "invalid":
        raise errors.InvalidArgument(
            "two fields", [errors.FieldViolation("email", "is not an address")]
        )
    if principal.subject == "crash":
        raise RuntimeError("secret-value-42 leaked in an exception")
    if principal.subject == "slow":
        time.sleep(1.0)
    if principal.subject.startswith("unavailable"):
        UNAVAILABLE_CALLS.append(principal.subject)
        raise errors.Unavailable("an upstream service did not answer in time")
    return empty_pb2.Empty()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TestKeys]]:
    keys = TestKeys(tmp_path_factory.mktemp("keys"))
    handler = grpc.method_handlers_generic_handler(
        "test.Probe",
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                _behaviour,
                request_deserializer=empty_pb2.Empty.FromString,
                response_serializer=empty_pb2.Empty.SerializeToString,
            )
        },
    )
    server, _ = build_server(
        keys.verifier, [("test.Probe", lambda s: s.add_generic_rpc_handlers((handler,)))]
    )
    target = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(target)
    server.start()
    yield target, keys
    server.stop(0)


def _call(target: str, token: str, timeout: float = 5.0) -> None:
    with open_channel(target, lambda: token, timeout) as channel:
        call = channel.unary_unary(
            METHOD,
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        call(empty_pb2.Empty())


def test_a_verified_caller_gets_through(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    _call(target, keys.issuer.mint("alice"))


def test_a_bad_token_is_unauthenticated(served: tuple[str, TestKeys], tmp_path: Path) -> None:
    target, _ = served
    with pytest.raises(grpc.RpcError) as caught:
        _call(target, TestKeys(tmp_path).issuer.mint("alice"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert isinstance(domain_error(caught.value), errors.Unauthenticated)


def test_field_violations_travel_to_the_caller(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    with pytest.raises(grpc.RpcError) as caught:
        _call(target, keys.issuer.mint("invalid"))
    error = domain_error(caught.value)
    assert isinstance(error, errors.InvalidArgument)
    assert error.violations == [errors.FieldViolation("email", "is not an address")]


def test_a_service_that_answers_unavailable_is_called_once(served: tuple[str, TestKeys]) -> None:
    # Channels retry UNAVAILABLE when no server answered; an answer (a write may be done)
    # carries the server's "do not retry", so a test mail is not sent four times.
    target, keys = served
    with pytest.raises(grpc.RpcError) as caught:
        _call(target, keys.issuer.mint("unavailable-once"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert UNAVAILABLE_CALLS.count("unavailable-once") == 1


def test_a_call_to_a_server_that_comes_back_is_retried(tmp_path: Path) -> None:
    keys = TestKeys(tmp_path)
    port = free_port()
    channel = open_channel(f"127.0.0.1:{port}", lambda: keys.issuer.mint("ok"), 10.0)
    with pytest.raises(grpc.RpcError):  # nobody listens: fails, and the channel backs off
        channel.unary_unary(METHOD)(b"", timeout=0.5)
    handler = grpc.method_handlers_generic_handler(
        "test.Probe",
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                _behaviour,
                request_deserializer=empty_pb2.Empty.FromString,
                response_serializer=empty_pb2.Empty.SerializeToString,
            )
        },
    )
    server, _ = build_server(
        keys.verifier, [("test.Probe", lambda s: s.add_generic_rpc_handlers((handler,)))]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        reply = channel.unary_unary(
            METHOD,
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )(empty_pb2.Empty())
        assert reply == empty_pb2.Empty()
    finally:
        server.stop(0)
        channel.close()


def test_an_unexpected_error_is_a_bare_internal(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    with pytest.raises(grpc.RpcError) as caught:
        _call(target, keys.issuer.mint("crash"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert "secret-value-42" not in (caught.value.details() or "")  # type: ignore[attr-defined]


def test_every_outbound_call_carries_a_deadline(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    with pytest.raises(grpc.RpcError) as caught:
        _call(target, keys.issuer.mint("slow"), timeout=0.2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    assert isinstance(domain_error(caught.value), errors.Unavailable)


def test_health_answers_without_a_token(served: tuple[str, TestKeys]) -> None:
    target, _ = served
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="test.Probe"), timeout=2
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
