"""What every console page shares: language, rate limits, CSRF check, security headers,
template helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, g, request, url_for
from werkzeug.wrappers import Response

from meshkit.identity import Principal
from meshkit.roles import Role
from services.gateway import ratelimit
from services.gateway.console import i18n, pressure_dashboard, pressure_panel, security
from services.gateway.console import session as signed


def install(blueprint: Blueprint) -> None:
    blueprint.before_request(_before)
    blueprint.after_request(_after)
    # App-wide, so the console's 404 page (no blueprint matched) renders too.
    blueprint.app_context_processor(_helpers)


def install_globals(app: Flask) -> None:
    """What macros need without `with context`: translation and the CSRF field."""
    app.jinja_env.globals.update(_=i18n.translate, csrf_field=security.csrf_field)


def _before() -> None:
    g.lang = i18n.choose_language()
    if request.endpoint != "console.static":  # the style sheet costs nothing to serve
        ratelimit.count_page(_signed_in_or_none())
    security.check_csrf()


def _signed_in_or_none() -> Principal | None:
    """The signed-in person, or None (signed out, or a session that lapsed: the page itself
    sends them to sign in again, and the sign-in routes still work)."""
    try:
        return signed.load()
    except signed.SignInNeeded:
        return None


def _after(response: Response) -> Response:
    return security.secure(response)


def _helpers() -> dict[str, Any]:
    if not request.path.startswith("/console"):
        return {}
    principal = _principal_or_none()
    return {
        "_": i18n.translate,
        "lang": i18n.language(),
        "languages": i18n.LANGUAGES,
        "csrf_field": security.csrf_field,
        "principal": principal,
        "nav": navigation(principal),
        "here": request.path,
        "with_lang": _with_lang,
        "role_options": role_options,
        "role_labels": role_labels,
        "pressure_panel": pressure_panel.panel,
    }


def role_options(roles: Iterable[Role]) -> list[tuple[str, str]]:
    """(value, translated label) of each role, for a select."""
    return [(role.value, i18n.translate(f"role.{role.value}")) for role in roles]


def role_labels(roles: Iterable[str]) -> str:
    return ", ".join(i18n.translate(f"role.{role}") for role in sorted(roles))


def _principal_or_none() -> Principal | None:
    try:
        return signed.load()
    except signed.SignInNeeded:
        return None


def _with_lang(lang: str) -> str:
    """The current page in another language."""
    values: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {})}
    values["lang"] = lang
    return url_for(request.endpoint or "console.home", **values)


def navigation(principal: Principal | None) -> list[tuple[str, str]]:
    """(endpoint, message key) of the areas this principal may open."""
    if principal is None:
        return []
    items = [("console.home", "nav.home")]
    if principal.component:
        items.append(("console.campaigns.index", "nav.campaigns"))
        items.append(("console.contacts.index", "nav.contacts"))
    if may_aggregate(principal):
        items.append(("console.indicators.page", "nav.indicators"))
    if pressure_dashboard.may_open(principal):
        items.append(("console.pressure_dashboard.page", "nav.pressure_dashboard"))
    if principal.has_role(Role.DPO):
        items.append(("console.privacy.index", "nav.privacy"))
    if principal.has_role(Role.ADMIN):
        items.append(("console.admin.index", "nav.admin"))
    return items


def may_aggregate(principal: Principal) -> bool:
    """Whether the navigation offers the indicators (contacts decides on each field): the
    communication team and admins (the grouping), a component's managers and DPO (as it)."""
    if principal.has_role(Role.COMMUNICATION) or principal.has_role(Role.ADMIN):
        return True
    staff = (Role.CAMPAIGN_MANAGER, Role.DPO)
    return bool(principal.component) and any(principal.has_role(role) for role in staff)
