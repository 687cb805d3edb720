"""The preference page a person reaches from the signed link in every mail (no login).

GET shows the page; POST records what the form changed (grants, withdrawals),
then sends the browser back to the page (303, so a reload posts nothing);
POST .../objection records an Art. 21 objection. The link is a PersonLinks
PREFERENCES token naming the contact and the campaign of the mail. A forged or
altered link is a 404 page, an expired one a 410 page, a consent service away
a 503 page: nothing is recorded in each case.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from meshkit.errors import DomainError, Expired, NotFound, Unavailable
from meshkit.links import LinkKind, PersonLink
from services.gateway import inputs, person_links, schemas
from services.gateway.api import FORM, HTML, Access, Reply, Routes
from services.gateway.clients import upstream
from services.gateway.pages import secured
from services.gateway.preference_pages import (
    LANGUAGES,
    Language,
    done_page,
    error_page,
    preferences_page,
    words,
)
from services.gateway.preference_store import PreferenceStore

blueprint = Blueprint("preferences", __name__)
routes = Routes(blueprint, "preferences")

_PAGE_ERRORS = (
    Reply(404, "The link is forged or altered (a page).", media_type=HTML),
    Reply(410, "The link has expired (a page).", media_type=HTML),
    Reply(503, "Consent did not answer: nothing was recorded (a page).", media_type=HTML),
)


def _link(token: str) -> PersonLink:
    return person_links.links().verify(LinkKind.PREFERENCES, token)


def _language(asked: str | None) -> Language:
    """The language asked for in the URL, else the browser's preferred one, else French."""
    best = asked if asked in LANGUAGES else request.accept_languages.best_match(LANGUAGES)
    return "en" if best == "en" else "fr"


def _store() -> PreferenceStore:
    return PreferenceStore(upstream())


@routes.route(
    "GET",
    "/preferences/<token>",
    summary="The preference page of the person a mail's link names; changes nothing.",
    access=Access.PUBLIC,
    query=schemas.PreferencesQuery,
    replies=(Reply(200, "The page: a form of checkboxes, an objection form.", media_type=HTML),)
    + _PAGE_ERRORS,
)
def page(token: str, query: schemas.PreferencesQuery) -> Response:
    """GET /preferences/<token>?lang=fr|en."""
    lang = _language(query.lang)
    view = _store().view(_link(token), lang)
    message = words(lang)["saved"] if query.saved else ""
    return preferences_page(view, lang, url_for(".object_", token=token), message)


@routes.route(
    "POST",
    "/preferences/<token>",
    summary="Record what the preference form changed, then show the page again.",
    access=Access.PUBLIC,
    query=schemas.PreferencesQuery,
    body=schemas.PreferencesForm,
    body_media_type=FORM,
    body_optional=True,
    replies=(Reply(303, "Recorded: see the page again (`saved=true`).", media_type=HTML),)
    + _PAGE_ERRORS,
)
def save(token: str, query: schemas.PreferencesQuery, body: schemas.PreferencesForm) -> Response:
    """POST /preferences/<token>."""
    lang = _language(query.lang)
    _store().save(_link(token), lang, body, inputs.requester())
    again = Response(status=303)
    again.headers["Location"] = url_for(".page", token=token, lang=lang, saved="true")
    return secured(again)


@routes.route(
    "POST",
    "/preferences/<token>/objection",
    summary="Nothing more from the whole university: an Art. 21 objection, every channel.",
    access=Access.PUBLIC,
    query=schemas.PreferencesQuery,
    body=schemas.ObjectionForm,
    body_media_type=FORM,
    body_optional=True,
    replies=(Reply(200, "Recorded: a page saying so.", media_type=HTML),) + _PAGE_ERRORS,
)
def object_(token: str, query: schemas.PreferencesQuery, body: schemas.ObjectionForm) -> Response:
    """POST /preferences/<token>/objection."""
    lang = _language(query.lang)
    _store().object(_link(token), inputs.requester())
    return done_page(lang, "objection_saved", url_for(".page", token=token))


def _as_page(error: DomainError) -> Response:
    """A person's browser gets a page, in their language, not problem+json."""
    key = {NotFound: "not_found", Expired: "expired", Unavailable: "unavailable"}[type(error)]
    return error_page(_language(request.args.get("lang")), key, error.http_status)


for _kind in (NotFound, Expired, Unavailable):
    blueprint.register_error_handler(_kind, _as_page)
