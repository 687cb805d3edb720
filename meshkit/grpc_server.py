"""The gRPC server skeleton every service runs: auth, error mapping, health, reflection.

One interceptor verifies the caller's token and binds the principal for the
servicer; the same wrapper turns domain errors into status codes with field
violations, and any other exception into a bare INTERNAL (logged here, never
shown to the caller).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from meshkit.errors import DomainError
from meshkit.identity import TokenVerifier, bind_principal, unbind_principal

log = logging.getLogger(__name__)

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def status_of(error: DomainError) -> grpc.Status:
    """The rich gRPC status for a domain error, with its field violations."""
    status = status_pb2.Status(code=code_pb2.Code.Value(error.grpc_code), message=error.detail)
    if error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.add().Pack(bad_request)
    return rpc_status.to_status(status)


class AuthAndErrorsInterceptor(grpc.ServerInterceptor):
    """Verifies the bearer token of every RPC, then maps errors from the servicer."""

    def __init__(self, verifier: TokenVerifier):
        self._verifier = verifier

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or details.method.startswith(PUBLIC_PREFIXES):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._guard(handler.unary_unary, details.method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            guarded = self._guard(lambda r, c: list(handler.unary_stream(r, c)), details.method)
            return grpc.unary_stream_rpc_method_handler(
                lambda r, c: iter(guarded(r, c)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # streaming requests are not used by the mesh

    def _guard(self, behaviour: Callable[[Any, grpc.ServicerContext], Any], method: str) -> Any:
        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                metadata = dict(context.invocation_metadata())
                principal = self._verifier.verify_header(metadata.get("authorization"))
                token = bind_principal(principal)
                try:
                    return behaviour(request, context)
                finally:
                    unbind_principal(token)
            except DomainError as error:
                context.abort_with_status(status_of(error))
            except Exception:
                if context.code() is not None:  # the servicer aborted on purpose
                    raise
                log.exception("unexpected error in %s", method)
                context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return guarded


def build_server(
    verifier: TokenVerifier,
    services: Iterable[tuple[str, Callable[[grpc.Server], None]]],
    max_workers: int = 16,
) -> tuple[grpc.Server, health.HealthServicer]:
    """A server with the given servicers, the health service and reflection."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        interceptors=[AuthAndErrorsInterceptor(verifier)],
        options=[("grpc.max_receive_message_length", 32 * 1024 * 1024)],
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = []
    for name, register in services:
        register(server)
        names.append(name)
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    return server, health_servicer


def run_until_signalled(
    server: grpc.Server,
    health_servicer: health.HealthServicer,
    listen: str,
    grace_seconds: float,
    on_stop: Callable[[], None] = lambda: None,
) -> None:
    """Binds, starts, and on SIGTERM/SIGINT drains in-flight RPCs before returning."""
    port = server.add_insecure_port(listen)
    if port == 0:
        raise SystemExit(f"cannot listen on {listen}")
    server.start()
    log.info("listening on %s", listen)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    log.info("shutting down")
    health_servicer.enter_graceful_shutdown()
    on_stop()
    server.stop(grace_seconds).wait()
