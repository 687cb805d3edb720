"""The gRPC server skeleton every service runs: auth, error mapping, health, reflection.

One interceptor binds the caller's request id (metadata `x-request-id`) and
verifies its token, binding the principal for the servicer; the same wrapper
turns domain errors into status codes with field violations, and any other
exception into a bare INTERNAL (logged here, never shown to the caller), and
counts each call and its status code for the metrics (meshkit.metrics).
"""

from __future__ import annotations

import logging
import signal
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from meshkit.errors import DomainError
from meshkit.identity import Principal, TokenVerifier, bind_principal, unbind_principal
from meshkit.metrics import observe_rpc
from meshkit.reflection import enable_reflection
from meshkit.request_id import METADATA_KEY, accepted, bind_request_id, unbind_request_id

log = logging.getLogger(__name__)

NO_RETRY_KEY = "grpc-retry-pushback-ms"
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# (method, verified principal) -> the principal the servicer sees, or a DomainError:
# checks the token against the organisation tree and the role the method needs.
PrincipalCheck = Callable[[str, Principal], Principal]


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
    answer = rpc_status.to_status(status)
    # The service answered: a client must not try the call again (gRPC's server pushback),
    # even for UNAVAILABLE, which channels retry only when no server answered at all.
    return answer._replace(  # type: ignore[attr-defined,no-any-return]
        trailing_metadata=(*answer.trailing_metadata, (NO_RETRY_KEY, "-1"))
    )


class AuthAndErrorsInterceptor(grpc.ServerInterceptor):
    """Verifies the bearer token of every RPC, then maps errors from the servicer."""

    def __init__(self, verifier: TokenVerifier, principal_check: PrincipalCheck | None = None):
        self._verifier = verifier
        self._check = principal_check

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
            started = time.perf_counter()
            metadata = dict(context.invocation_metadata())
            # Calls made outside any request (background jobs) carry no id: none is bound.
            given = metadata.get(METADATA_KEY)
            bound = bind_request_id(accepted(given) if given is not None else None)
            code = "OK"
            try:
                principal = self._verifier.verify_header(metadata.get("authorization"))
                if self._check is not None:
                    principal = self._check(method, principal)
                token = bind_principal(principal)
                try:
                    answer = behaviour(request, context)
                finally:
                    unbind_principal(token)
                code = _code_name(context.code(), "OK")
                return answer
            except DomainError as error:
                code = error.grpc_code
                context.abort_with_status(status_of(error))
            except Exception as failure:
                if context.code() is not None:  # the servicer aborted on purpose
                    code = _code_name(context.code(), "UNKNOWN")
                    raise
                code = "INTERNAL"
                # An exception's message may quote data (pydantic and drivers quote inputs,
                # names included): log its kind and where it happened, never its text.
                stack = "".join(traceback.format_tb(failure.__traceback__))
                log.error("unexpected %s in %s\n%s", type(failure).__name__, method, stack)
                context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                observe_rpc(method, code, time.perf_counter() - started)
                unbind_request_id(bound)

        return guarded


def _code_name(code: Any, default: str) -> str:
    """The name of a status code set on a context ("NOT_FOUND"), or `default` when unset."""
    return code.name if isinstance(code, grpc.StatusCode) else default


def build_server(
    verifier: TokenVerifier,
    services: Iterable[tuple[str, Callable[[grpc.Server], None]]],
    max_workers: int = 16,
    principal_check: PrincipalCheck | None = None,
) -> tuple[grpc.Server, health.HealthServicer]:
    """A server with the given servicers, the health service and reflection.

    `principal_check`, when given, runs after the token is verified and before the
    servicer: it may refuse the call or replace the principal (the organisation tree).
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        interceptors=[AuthAndErrorsInterceptor(verifier, principal_check)],
        options=[
            ("grpc.max_receive_message_length", 32 * 1024 * 1024),
            # gRPC sets SO_REUSEPORT by default: a second server would then share the port
            # with a forgotten one, and health checks would pass against the old process.
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = []
    for name, register in services:
        register(server)
        names.append(name)
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    enable_reflection([*names, health.SERVICE_NAME], server)
    return server, health_servicer


def address_in_use(listen: str) -> str | None:
    """Why `listen` (host:port) cannot be bound now, or None when it is free (or port 0)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or None  # type: ignore[assignment]
    if not port.isdigit() or int(port) == 0:
        return None
    try:
        addresses = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        return str(error.strerror)
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            # Like the gRPC server: a port in TIME_WAIT is free, one with a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                return str(error.strerror or error)
    return None


class StopSignals:
    """Counts SIGTERM and SIGINT from now on; the first asks to stop, a later one to hurry.

    The handler only counts: a handler that takes a lock (Event.set) can deadlock with the
    code it interrupts, and a signal delivered to another thread wakes no blocking wait, so
    callers poll `count` with short sleeps.
    """

    def __init__(self, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)):
        self.count = 0
        for sig in signals:
            signal.signal(sig, self._seen)

    def _seen(self, signum: int, frame: object) -> None:
        self.count += 1

    def wait(self, more_than: int, timeout: float | None = None) -> bool:
        """Waits until more than `more_than` signals were seen; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.count <= more_than:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def run_until_signalled(
    server: grpc.Server,
    health_servicer: health.HealthServicer,
    listen: str,
    grace_seconds: float,
    on_stop: Callable[[], None] = lambda: None,
    credentials: grpc.ServerCredentials | None = None,
) -> None:
    """Binds, starts, and on SIGTERM/SIGINT drains in-flight RPCs before returning.

    With `credentials` (meshkit.tls) the port speaks TLS only; without, plaintext.
    A port already in use ends the process with one line (exit 1). During the drain, a
    second signal cuts the grace short: in-flight RPCs are cancelled and this returns.
    """
    why = address_in_use(listen)
    if why is None:
        try:
            if credentials is None:
                bound = server.add_insecure_port(listen)
            else:
                bound = server.add_secure_port(listen, credentials)
            if bound == 0:
                why = "the address cannot be bound"
        except RuntimeError:
            why = "the address cannot be bound"
    if why is not None:
        log.error("cannot listen on %s: %s (is another server still running there?)", listen, why)
        raise SystemExit(1)
    signals = StopSignals()
    server.start()
    log.info("ready on %s (%s)", listen, "plaintext" if credentials is None else "TLS")
    signals.wait(more_than=0)
    log.info("shutting down; a second signal cancels what is still running")
    health_servicer.enter_graceful_shutdown()
    on_stop()
    hurried = signals.count > 1
    stopped = server.stop(0 if hurried else grace_seconds)
    while not stopped.wait(0.1):
        if signals.count > 1:
            if not hurried:
                log.info("second signal: cancelling the calls still running")
                server.stop(0)
            stopped.wait(2.0)  # cancelling is quick; never wait on it for long
            return
