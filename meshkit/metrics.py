"""Prometheus metrics of every service, served on a port of their own.

`<PREFIX>METRICS_LISTEN` (host:port) turns the endpoint on; unset, nothing
listens (the counters still count, in memory, for nobody). Labels are bounded
sets (gRPC method names, status codes, route templates, outcome codes): never
an id, an address or anything a caller chooses freely.

The metrics every gRPC server shares are defined here; the gateway's are in
services/gateway/observability.py, the domain ones beside the code they count
(services/campaigns/metrics.py, services/consent/metrics.py).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server
from pydantic import Field
from pydantic_settings import BaseSettings

log = logging.getLogger(__name__)

# Seconds: from a cache hit (a millisecond) to a preview of a whole component (seconds).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

RPC_HANDLED = Counter(
    "crm_grpc_server_handled",
    "RPCs completed by this server, by method and status code (OK or the error's code).",
    ["grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "crm_grpc_server_handling_seconds",
    "Time from the start of an RPC to its answer, by method.",
    ["grpc_method"],
    buckets=LATENCY_BUCKETS,
)


class MetricsSettings(BaseSettings):
    """Mixin of every service's settings: where its Prometheus endpoint listens."""

    metrics_listen: str | None = Field(
        None,
        description="host:port of the Prometheus `/metrics` endpoint (a port of its own); "
        "unset: no endpoint.",
    )


def serve_metrics(listen: str | None) -> None:
    """Starts the `/metrics` endpoint on `listen` in a daemon thread (nothing when None).

    A port that cannot be bound ends the process with one line (exit 1), as the service's
    own port does.
    """
    if not listen:
        return
    host, _, port = listen.rpartition(":")
    try:
        start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
    except (OSError, ValueError) as error:
        log.error("cannot serve metrics on %s: %s", listen, getattr(error, "strerror", error))
        raise SystemExit(1) from None
    log.info("metrics on http://%s/metrics", listen)


def observe_rpc(method: str, code: str, seconds: float) -> None:
    """Counts one RPC answered with `code` (a grpc.StatusCode name) after `seconds`."""
    RPC_HANDLED.labels(method, code).inc()
    RPC_SECONDS.labels(method).observe(seconds)
