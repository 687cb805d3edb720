"""Every error the gateway answers is RFC 9457 problem+json, mapped here and nowhere else.

Domain errors (the gateway's own and those of upstream services, carried back
by gRPC status with field violations) keep their status and field errors;
Flask's own errors (404, 405, 413, 415) keep theirs; anything unexpected is a
500 with a generic detail, logged without the request's path or body (paths
can hold unsubscribe tokens and contact ids).
"""

from __future__ import annotations

import logging
import re
import traceback

import grpc
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from meshkit.errors import DomainError, Unauthenticated
from meshkit.grpc_client import domain_error
from services.gateway.responses import FieldError, Problem

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:crm-mesh:problem:"


def problem_type(name: str) -> str:
    """`InvalidArgument` or `Not Found` -> `urn:crm-mesh:problem:invalid-argument` / `not-found`."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower().split()
    return TYPE_PREFIX + "-".join(words)


def problem_body(
    status: int, title: str, detail: str, kind: str, errors: list[FieldError] | None = None
) -> bytes:
    """The JSON of a problem (also written by the HTTP server itself, outside Flask)."""
    body = Problem(
        type=problem_type(kind), title=title, status=status, detail=detail, errors=errors
    )
    return body.model_dump_json(exclude_none=True).encode()


def problem_response(
    status: int,
    title: str,
    detail: str,
    kind: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json answer."""
    body = problem_body(status, title, detail, kind, errors)
    response = Response(body, status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def from_domain(error: DomainError) -> Response:
    """The problem for a domain error, with its field violations."""
    errors = [FieldError(field=v.field, description=v.description) for v in error.violations]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
    kind = type(error).__name__ if type(error) is not DomainError else "Internal"
    return problem_response(
        error.http_status, error.title, error.detail, kind, errors or None, headers
    )


def from_upstream(error: grpc.RpcError) -> Response:
    """A failed upstream call, mapped back through its gRPC status."""
    mapped = domain_error(error)
    if mapped.http_status >= 500:
        log.warning("upstream call failed on %s %s: %s", request.method, request.url_rule, mapped)
    return from_domain(mapped)


def from_http(error: HTTPException) -> Response:
    """Flask's own errors (unknown route, wrong method, body too large, ...)."""
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return problem_response(
        status, error.name, error.description or error.name, error.name, headers=headers
    )


def from_unexpected(error: Exception) -> Response:
    """A bug: logged here, never shown to the caller."""
    # The message may quote data (pydantic quotes inputs): log the kind and the stack only.
    stack = "".join(traceback.format_tb(error.__traceback__))
    log.error(
        "unexpected %s on %s %s\n%s", type(error).__name__, request.method, request.url_rule, stack
    )
    return problem_response(500, "Internal error", "an unexpected error occurred", "Internal")


def install(app: Flask) -> None:
    """Routes every kind of error to its problem."""
    app.register_error_handler(DomainError, from_domain)
    app.register_error_handler(grpc.RpcError, from_upstream)
    app.register_error_handler(HTTPException, from_http)
    app.register_error_handler(Exception, from_unexpected)
