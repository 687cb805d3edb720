"""The gateway's request id, access log and HTTP metrics, around every request.

Before anything else (authentication included) a request gets its id: the
caller's `X-Request-Id` when it is short visible ASCII, else a fresh one. The id
is bound for the request's log lines and gRPC calls (meshkit.request_id) and
returned on every answer, problem+json included.

Once answered, one access-log line (logger `services.gateway.access`) says
method, route template, status, duration in ms and the caller's component (the
health probe, `/healthz`, is only counted in the metrics). The
route is the template (`/v1/contacts/<contact_id>`), not the path: paths carry
ids and the public pages' signed tokens. Neither the query string (search
terms, addresses) nor a body nor the Authorization header is ever logged.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from prometheus_client import Counter, Histogram

from meshkit.metrics import LATENCY_BUCKETS
from meshkit.request_id import HEADER, accepted, bind_request_id, unbind_request_id

access_log = logging.getLogger("services.gateway.access")

UNMATCHED = "<unmatched>"  # any path no route knows: one label, not one per path tried
# Probed every few seconds by orchestrators: counted in the metrics, kept out of the log.
QUIET_ROUTES = frozenset({"/healthz"})

HTTP_REQUESTS = Counter(
    "crm_http_requests",
    "Requests the gateway answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "crm_http_request_duration_seconds",
    "Time from a request's arrival at the app to its answer, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


def install(app: Flask) -> None:
    """Hooks the request id, access log and metrics in; call before any other hook."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_unbind)


def _start() -> None:
    g.started = time.perf_counter()
    g.request_id = accepted(request.headers.get(HEADER))
    g.request_id_binding = bind_request_id(g.request_id)


def _finish(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:  # a hook before ours answered: still give the answer an id
        request_id = g.request_id = accepted(request.headers.get(HEADER))
    response.headers[HEADER] = request_id
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method if request.method in _METHODS else "OTHER"
    HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)
    if route in QUIET_ROUTES:
        return response
    principal = g.get("principal")
    component = (principal.component if principal is not None else None) or "-"
    access_log.info(
        "%s %s %d %.1fms component=%s",
        method,
        route,
        response.status_code,
        seconds * 1000,
        component,
    )
    return response


def _unbind(error: BaseException | None) -> None:
    binding = g.pop("request_id_binding", None)
    if binding is not None:
        unbind_request_id(binding)


# Methods a route may name; anything else a client sends is counted as OTHER (bounded labels).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
