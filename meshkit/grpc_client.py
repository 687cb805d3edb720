"""Outbound gRPC channels: every call carries a bearer token, a deadline and the request id."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from meshkit import errors
from meshkit.request_id import METADATA_KEY, current_request_id


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


_SET_HERE = ("authorization", METADATA_KEY)


class _TokenAndDeadline(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: Callable[[], str], timeout_seconds: float):
        self._token = token
        self._timeout = timeout_seconds

    def _details(self, details: Any) -> _CallDetails:
        request_id = current_request_id()
        replaced = _SET_HERE if request_id is not None else _SET_HERE[:1]
        metadata = [m for m in (details.metadata or []) if m[0] not in replaced]
        metadata.append(("authorization", f"Bearer {self._token()}"))
        if request_id is not None:
            # The caller's request id goes on, so the callee's log lines carry it too.
            metadata.append((METADATA_KEY, request_id))
        return _CallDetails(
            details.method,
            details.timeout if details.timeout is not None else self._timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


RETRY_UNAVAILABLE = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.25s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


def open_channel(
    target: str,
    token: Callable[[], str],
    timeout_seconds: float,
    credentials: grpc.ChannelCredentials | None = None,
) -> grpc.Channel:
    """A channel whose calls carry `token()` as bearer, `timeout_seconds` unless set, and
    the request id bound in the calling context (meshkit.request_id), if any.

    With `credentials` (meshkit.tls) the channel is TLS; without, plaintext.
    """
    options = [
        ("grpc.max_receive_message_length", 32 * 1024 * 1024),
        # A target with several addresses (a headless Kubernetes Service: one per replica)
        # gets its calls spread over all of them; pick_first would send all to one.
        ("grpc.lb_policy_name", "round_robin"),
        # A peer that was down for a while is used again within 1 s of its return: the
        # default backoff grows to 120 s, and calls fail fast (UNAVAILABLE) meanwhile...
        ("grpc.max_reconnect_backoff_ms", 1000),
        # ...and a call made in that second waits for it: UNAVAILABLE is tried again, three
        # more times within about 2 s (round_robin fails a call at once while every address
        # is reconnecting, where pick_first would have started a connection for it).
        ("grpc.service_config", RETRY_UNAVAILABLE),
    ]
    if credentials is None:
        channel = grpc.insecure_channel(target, options=options)
    else:
        channel = grpc.secure_channel(target, credentials, options=options)
    return grpc.intercept_channel(channel, _TokenAndDeadline(token, timeout_seconds))


_CODES: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.ABORTED: errors.Stale,
}


def domain_error(error: grpc.RpcError) -> errors.DomainError:
    """Turns a failed call back into the domain error the server raised."""
    code = error.code()  # type: ignore[attr-defined]
    kind = _CODES.get(code)
    if kind is None:
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return errors.Unavailable("an upstream service did not answer in time")
        return errors.DomainError("upstream error")
    violations: list[errors.FieldViolation] = []
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations += [
                errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations
            ]
    return kind(error.details() or kind.title, violations)  # type: ignore[attr-defined]
