"""The request id (validated or made, sent by every gRPC client, bound by every gRPC server),
the per-RPC metrics, and what a server logs of an unexpected error."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from meshkit import errors
from meshkit.grpc_client import open_channel
from meshkit.grpc_server import build_server
from meshkit.identity import current_principal
from meshkit.request_id import (
    MAX_LENGTH,
    METADATA_KEY,
    accepted,
    bind_request_id,
    current_request_id,
    unbind_request_id,
)
from tests.support.processes import free_port
from tests.support.tokens import TestKeys

METHOD = "/test.Echo/Call"
SECRET_NAME = "Camille " + "Dupont-Secret"  # a value the logs must not show
VALID = re.compile(rf"[!-~]{{1,{MAX_LENGTH}}}")


def _echo(request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
    """Answers with the request id bound while it runs, in the trailing metadata."""
    if current_principal().subject == "invalid":
        raise errors.InvalidArgument("refused on purpose")
    if current_principal().subject == "crash":
        raise RuntimeError(f"row of {SECRET_NAME} not written")  # the stack shows the name
    context.set_trailing_metadata((("seen-request-id", current_request_id() or "<none>"),))
    return empty_pb2.Empty()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TestKeys]]:
    keys = TestKeys(tmp_path_factory.mktemp("keys"))
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                _echo,
                request_deserializer=empty_pb2.Empty.FromString,
                response_serializer=empty_pb2.Empty.SerializeToString,
            )
        },
    )
    server, _ = build_server(
        keys.verifier, [("test.Echo", lambda s: s.add_generic_rpc_handlers((handler,)))]
    )
    target = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(target)
    server.start()
    yield target, keys
    server.stop(0)


def _seen(target: str, token: str, metadata: tuple[tuple[str, str], ...] = ()) -> str:
    """The request id the server had bound during one call."""
    with open_channel(target, lambda: token, 5.0) as channel:
        call = channel.unary_unary(
            METHOD,
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        _, outcome = call.with_call(empty_pb2.Empty(), metadata=metadata)
    return dict(outcome.trailing_metadata())["seen-request-id"]


def test_the_bound_id_travels_to_the_server(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    binding = bind_request_id("req-42.abc")
    try:
        assert _seen(target, keys.issuer.mint("alice")) == "req-42.abc"
    finally:
        unbind_request_id(binding)


def test_without_a_request_no_id_is_sent_nor_bound(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    assert current_request_id() is None
    assert _seen(target, keys.issuer.mint("alice")) == "<none>"


def test_a_malformed_id_in_metadata_is_replaced(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    seen = _seen(target, keys.issuer.mint("alice"), ((METADATA_KEY, "x" * (MAX_LENGTH + 1)),))
    assert re.fullmatch(r"[0-9a-f]{32}", seen)  # a fresh id, bound in its place


def _handled(code: str) -> float:
    value = REGISTRY.get_sample_value(
        "crm_grpc_server_handled_total", {"grpc_method": METHOD, "grpc_code": code}
    )
    return value or 0.0


def test_every_call_is_counted_with_its_status_code(served: tuple[str, TestKeys]) -> None:
    target, keys = served
    ok, refused = _handled("OK"), _handled("INVALID_ARGUMENT")
    latencies = REGISTRY.get_sample_value(
        "crm_grpc_server_handling_seconds_count", {"grpc_method": METHOD}
    )
    _seen(target, keys.issuer.mint("alice"))
    with pytest.raises(grpc.RpcError):
        _seen(target, keys.issuer.mint("invalid"))
    assert _handled("OK") == ok + 1
    assert _handled("INVALID_ARGUMENT") == refused + 1
    after = REGISTRY.get_sample_value(
        "crm_grpc_server_handling_seconds_count", {"grpc_method": METHOD}
    )
    assert after == (latencies or 0.0) + 2


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
        min_size=1,
        max_size=MAX_LENGTH,
    )
)
def test_a_short_visible_ascii_id_is_kept_as_given(candidate: str) -> None:
    assert accepted(candidate) == candidate


@given(st.one_of(st.none(), st.text()))
def test_whatever_comes_in_the_id_kept_is_short_visible_ascii(candidate: str | None) -> None:
    kept = accepted(candidate)
    assert VALID.fullmatch(kept)
    if candidate is not None and VALID.fullmatch(candidate):
        assert kept == candidate


def test_an_unexpected_error_is_logged_by_kind_and_place_never_its_text(
    served: tuple[str, TestKeys], caplog: pytest.LogCaptureFixture
) -> None:
    target, keys = served
    internal = _handled("INTERNAL")
    with caplog.at_level(logging.ERROR, logger="meshkit.grpc_server"):
        with pytest.raises(grpc.RpcError) as caught:
            _seen(target, keys.issuer.mint("crash"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert "RuntimeError" in caplog.text and "_echo" in caplog.text
    assert "Dupont-Secret" not in caplog.text
    assert _handled("INTERNAL") == internal + 1
