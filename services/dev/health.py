"""Wait for, or probe, a service's health: the gRPC health service or the gateway's /healthz."""

from __future__ import annotations

import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from meshkit.tls import TlsFiles


def grpc_serving(target: str, timeout: float = 2.0, tls: TlsFiles | None = None) -> bool:
    """True when the server at `target` answers SERVING on the standard health service.

    With `tls` the probe speaks TLS: it verifies the server against the CA and presents
    the certificate, as a peer service would (a server requiring client certificates).
    """
    credentials = tls.channel_credentials() if tls is not None else None
    if credentials is None:
        opened = grpc.insecure_channel(target)
    else:
        opened = grpc.secure_channel(target, credentials)
    with opened as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _wait(check: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not become healthy within {timeout:.0f}s")
        time.sleep(0.1)


def wait_grpc(target: str, timeout: float = 60.0) -> None:
    _wait(lambda: grpc_serving(target, 1.0), target, timeout)


def wait_http(url: str, timeout: float = 60.0) -> None:
    _wait(lambda: http_ok(url, 1.0), url, timeout)
