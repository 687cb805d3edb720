"""Console errors are pages, never problem+json and never a stack trace.

A service's refusal (a domain error, carried back by gRPC status) shows the
same status and detail the API's problem would carry; a lapsed session sends
the user to sign in again; anything unexpected is a generic 500 page, logged
without the path (paths hold contact ids).
"""

from __future__ import annotations

import logging
import traceback

import grpc
from flask import Blueprint, Flask, g, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from meshkit.errors import DomainError, Unauthenticated
from meshkit.grpc_client import domain_error
from services.gateway import problems
from services.gateway.console import i18n, security
from services.gateway.console import session as signed

log = logging.getLogger(__name__)


def install(blueprint: Blueprint) -> None:
    blueprint.register_error_handler(signed.SignInNeeded, _sign_in)
    blueprint.register_error_handler(security.CsrfRefused, _csrf)
    blueprint.register_error_handler(DomainError, _domain)
    blueprint.register_error_handler(grpc.RpcError, _upstream)
    blueprint.register_error_handler(HTTPException, _http)
    blueprint.register_error_handler(Exception, _unexpected)


def install_app(app: Flask) -> None:
    """Unknown console paths get the console's 404 page; the API keeps its problems."""

    def not_found(error: HTTPException) -> Response:
        if request.path.startswith("/console/") or request.path == "/console":
            g.lang = i18n.choose_language()
            return _http(error)
        return problems.from_http(error)

    app.register_error_handler(404, not_found)
    app.register_error_handler(405, not_found)


def page(status: int, title: str, detail: str) -> Response:
    html = render_template("console/error.html", status=status, title=title, detail=detail)
    return security.secure(Response(html, status, mimetype="text/html"))


def _sign_in(error: signed.SignInNeeded) -> Response:
    return security.secure(signed.to_login(expired=error.expired))


def _csrf(_: security.CsrfRefused) -> Response:
    return page(400, i18n.translate("error.title"), i18n.translate("error.csrf"))


def _domain(error: DomainError) -> Response:
    if isinstance(error, Unauthenticated):
        signed.end()
        return security.secure(signed.to_login(expired=True))
    return page(error.http_status, error.title, error.detail)


def _upstream(error: grpc.RpcError) -> Response:
    mapped = domain_error(error)
    if mapped.http_status >= 500:
        log.warning(
            "upstream call failed on console %s %s: %s", request.method, request.url_rule, mapped
        )
    return _domain(mapped)


def _http(error: HTTPException) -> Response:
    status = error.code or 500
    detail = i18n.translate("error.not_found") if status == 404 else (error.description or "")
    return page(status, error.name, detail)


def _unexpected(error: Exception) -> Response:
    stack = "".join(traceback.format_tb(error.__traceback__))
    log.error(
        "unexpected %s on console %s %s\n%s",
        type(error).__name__,
        request.method,
        request.url_rule,
        stack,
    )
    return page(500, i18n.translate("error.title"), i18n.translate("error.internal"))
