"""Public unsubscribe pages (no login): the links campaigns puts in every message.

GET only shows a confirmation form, since mail scanners prefetch links. POST
(RFC 8058 one-click, or that form) records a withdrawal for the whole grouping
through the consent service, as the gateway itself, and answers 200 only once
it is recorded: if consent cannot record it, 503 tells the client to retry;
a link whose contact no longer exists is a 404, which clients do not retry.
"""

from __future__ import annotations

import logging

import grpc
from flask import Blueprint, Flask, Response, current_app

from meshkit.errors import DomainError, NotFound, Unavailable
from meshkit.unsubscribe import UnsubscribeTokens
from services.gateway import inputs, mapping, pages, responses, schemas
from services.gateway.api import FORM, HTML, Access, Reply, Routes, json_response
from services.gateway.clients import upstream

log = logging.getLogger(__name__)

EXTENSION = "crm.gateway.unsubscribe"

blueprint = Blueprint("public", __name__)
routes = Routes(blueprint, "unsubscribe")


def install(app: Flask, tokens: UnsubscribeTokens) -> None:
    """Gives the public views the verifier of unsubscribe links."""
    app.extensions[EXTENSION] = tokens


def _tokens() -> UnsubscribeTokens:
    tokens: UnsubscribeTokens = current_app.extensions[EXTENSION]
    return tokens


def _signed(token: str) -> bool:
    """Whether `token` is a link we signed (a forged or altered one spends the IP's budget)."""
    try:
        _tokens().verify(token)
    except DomainError:
        return False
    return True


@routes.route(
    "GET",
    "/unsubscribe/<token>",
    summary="Confirmation page of an unsubscribe link; changes nothing.",
    access=Access.PUBLIC,
    calls_upstream=False,
    replies=(Reply(200, "A page with a form that posts to the same URL.", media_type=HTML),),
)
def unsubscribe_page(token: str) -> Response:
    """GET /unsubscribe/<token>."""
    link = _tokens().verify(token)  # an altered token is a 404
    return pages.confirmation_page(link.purpose)


@routes.route(
    "POST",
    "/unsubscribe/<token>",
    summary="One-click unsubscribe (RFC 8058), or the confirmation page's form.",
    access=Access.PUBLIC,
    body=schemas.UnsubscribeForm,
    body_media_type=FORM,
    replies=(
        Reply(200, "Recorded (JSON for one-click clients).", responses.Unsubscribed),
        Reply(200, "Recorded (HTML for the confirmation form).", media_type=HTML),
    ),
    free_when=lambda args: _signed(str(args.get("token", ""))),
)
def unsubscribe(token: str, body: schemas.UnsubscribeForm) -> Response:
    """POST /unsubscribe/<token>."""
    link = _tokens().verify(token)
    try:
        upstream().consent_as_gateway.Withdraw(
            mapping.one_click_withdrawal(link, inputs.requester())
        )
    except grpc.RpcError as error:
        if error.code() is grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
            raise NotFound("this link names no contact") from None  # retrying will not help
        log.warning("unsubscribe not recorded: consent answered %s", error.code())  # type: ignore[attr-defined]
        raise Unavailable("the unsubscription could not be recorded yet; please retry") from None
    if body.from_page:
        return pages.done_page(link.purpose)
    answer = responses.Unsubscribed(status="unsubscribed", purpose=link.purpose)
    return pages.secured(json_response(answer, 200))
