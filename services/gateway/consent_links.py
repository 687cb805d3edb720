"""Public pages of consent's own mails (no login): confirm a pending grant, renew a consent.

GET shows a page with a button and changes nothing. POST records the person's
act through the consent service, as the gateway itself (Confirm or Revalidate,
how=web_form, with the IP address and user agent the gateway saw). A forged or
altered link is a 404 page, an expired one a 410 page: nothing is written.
Pressing the button twice records one act.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import grpc
from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field

from meshkit.errors import Expired, NotFound
from meshkit.links import LinkKind, PersonLink
from protos.crm.consent.v1 import consent_pb2
from services.gateway import consent_link_pages, person_links
from services.gateway.api import FORM, HTML, Access, Reply, Routes
from services.gateway.clients import upstream

log = logging.getLogger(__name__)

SOURCE = "consent-mail-link"
MAX_USER_AGENT = 512

blueprint = Blueprint("consent_links", __name__)
routes = Routes(blueprint, "consent links")


class LinkForm(BaseModel):
    """The page's button."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"confirm": "yes"}]})

    confirm: Literal["yes"] = Field(description="Sent by the page's button.")


_PAGE_REPLIES = (
    Reply(200, "A page with a button that posts to the same URL.", media_type=HTML),
    Reply(410, "The link has expired: a page saying so.", media_type=HTML),
)
_POST_REPLIES = (
    Reply(200, "Recorded: a page saying so.", media_type=HTML),
    Reply(410, "Expired link, or the consent changed since: a page saying so.", media_type=HTML),
)


@routes.route(
    "GET",
    "/consent/confirm/<token>",
    summary="Page of a double opt-in confirmation link; changes nothing.",
    access=Access.PUBLIC,
    calls_upstream=False,
    replies=_PAGE_REPLIES,
)
def confirm_page(token: str) -> Response:
    """GET /consent/confirm/<token>."""
    return _ask("confirm", LinkKind.CONFIRM, token)


@routes.route(
    "POST",
    "/consent/confirm/<token>",
    summary="The person confirms a pending consent (double opt-in).",
    access=Access.PUBLIC,
    body=LinkForm,
    body_media_type=FORM,
    replies=_POST_REPLIES,
)
def confirm(token: str, body: LinkForm) -> Response:
    """POST /consent/confirm/<token>."""
    return _record("confirm", LinkKind.CONFIRM, token, _confirmation)


@routes.route(
    "GET",
    "/consent/revalidate/<token>",
    summary="Page of a revalidation link (a consent nearing its end); changes nothing.",
    access=Access.PUBLIC,
    calls_upstream=False,
    replies=_PAGE_REPLIES,
)
def revalidate_page(token: str) -> Response:
    """GET /consent/revalidate/<token>."""
    return _ask("revalidate", LinkKind.REVALIDATE, token)


@routes.route(
    "POST",
    "/consent/revalidate/<token>",
    summary="The person renews a consent the retention job asked about.",
    access=Access.PUBLIC,
    body=LinkForm,
    body_media_type=FORM,
    replies=_POST_REPLIES,
)
def revalidate(token: str, body: LinkForm) -> Response:
    """POST /consent/revalidate/<token>."""
    return _record("revalidate", LinkKind.REVALIDATE, token, _revalidation)


# --- The two acts ----------------------------------------------------------------------------


def _ask(act: consent_link_pages.Act, kind: LinkKind, token: str) -> Response:
    try:
        person_links.links().verify(kind, token)
    except NotFound:
        return consent_link_pages.page(act, "not_found")
    except Expired:
        return consent_link_pages.page(act, "expired")
    return consent_link_pages.page(act, "ask")


def _record(
    act: consent_link_pages.Act,
    kind: LinkKind,
    token: str,
    call: Callable[[PersonLink], object],
) -> Response:
    try:
        link = person_links.links().verify(kind, token)
    except NotFound:
        return consent_link_pages.page(act, "not_found")
    except Expired:
        return consent_link_pages.page(act, "expired")
    try:
        call(link)
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            return consent_link_pages.page(act, "not_found")  # erased since, or never pending
        if code is grpc.StatusCode.FAILED_PRECONDITION:
            return consent_link_pages.page(act, "changed")
        log.warning("consent link not recorded: consent answered %s", code)
        return consent_link_pages.page(act, "unavailable")
    return consent_link_pages.page(act, "done", _receipt_url(kind, link))


def _receipt_url(kind: LinkKind, link: PersonLink) -> str:
    """The person's own link to the receipt of the grant they just confirmed (relative)."""
    if kind is not LinkKind.CONFIRM:
        return ""
    token = person_links.links().sign(LinkKind.RECEIPT, link.contact_id, link.ref)
    return f"/consent/receipts/{token}"


def _confirmation(link: PersonLink) -> object:
    how, source, ip, user_agent = _collection()
    message = consent_pb2.ConfirmRequest(
        grant_event_id=link.ref, how=how, source=source, ip=ip, user_agent=user_agent
    )
    return upstream().consent_as_gateway.Confirm(message)


def _revalidation(link: PersonLink) -> object:
    how, source, ip, user_agent = _collection()
    message = consent_pb2.RevalidateRequest(
        event_id=link.ref, how=how, source=source, ip=ip, user_agent=user_agent
    )
    return upstream().consent_as_gateway.Revalidate(message)


def _collection() -> tuple[consent_pb2.How.ValueType, str, str, str]:
    """The person's own act on our page: web form, with what the gateway saw of them."""
    user_agent = (request.user_agent.string or "")[:MAX_USER_AGENT]
    return consent_pb2.HOW_WEB_FORM, SOURCE, request.remote_addr or "", user_agent
