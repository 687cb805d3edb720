"""Signing in and out: single sign-on (OIDC code + PKCE) and, on embedded defaults only,
the development sign-in.

The development sign-in answers 404, exactly like a route that does not exist,
unless GATEWAY_CONSOLE_DEV_LOGIN is on (`crm up` turns it on); the sign-in page
then shows no form for it either.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from meshkit.errors import DomainError, InvalidArgument
from meshkit.identity import TokenIssuer
from meshkit.roles import Role
from services.gateway.auth import EXTENSION as AUTH
from services.gateway.auth import Gatekeeper
from services.gateway.console import session as signed
from services.gateway.console.oidc_client import OidcClient, Pending
from services.gateway.settings import GatewaySettings

blueprint = Blueprint("login", __name__)
OIDC = "crm.console.oidc"
DEV = "crm.console.dev_issuer"
_PENDING = "oidc_pending"
STAFF_ROLES = tuple(role for role in Role if role is not Role.SERVICE)
DEV_TOKEN_SECONDS = 8 * 3600


def configure(settings: GatewaySettings) -> dict[str, object]:
    """The sign-in methods these settings allow, for the app's extensions."""
    methods: dict[str, object] = {}
    if settings.console_oidc_issuer:
        issuer = next(i for i in settings.oidc_issuers if i.issuer == settings.console_oidc_issuer)
        client = methods[OIDC] = OidcClient(
            issuer,
            settings.console_oidc_client_id,
            settings.console_oidc_client_secret,
            settings.console_oidc_scopes,
        )
        methods[signed.REFRESHER] = lambda refresh: astuple(client.refresh(refresh))
    if settings.console_dev_login:
        methods[DEV] = TokenIssuer(
            settings.console_dev_private_key_file, settings.jwt_issuer, settings.jwt_audience
        )
    return methods


def _client() -> OidcClient | None:
    return current_app.extensions.get(OIDC)


def _redirect_uri() -> str:
    return _public_url("console.login.callback")


def _public_url(endpoint: str) -> str:
    base = current_app.config.get("CONSOLE_PUBLIC_URL") or ""
    path = url_for(endpoint)
    return base.rstrip("/") + path if base else url_for(endpoint, _external=True)


@blueprint.get("/login")
def page() -> str:
    """The sign-in page: the SSO button, and the development form where it exists. After
    signing out, it says so and offers to end the provider's session as well."""
    return _render(
        next=request.args.get("next", ""),
        expired=request.args.get("expired") == "1",
        signed_out=request.args.get("signed_out") == "1",
    )


def _render(
    next: str = "", expired: bool = False, error: str | None = None, signed_out: bool = False
) -> str:
    dev = DEV in current_app.extensions
    return render_template(
        "console/login.html",
        sso=_client() is not None,
        dev=dev,
        known=_known_places() if dev else Known(),
        roles=STAFF_ROLES,
        next=next,
        expired=expired,
        error=error,
        signed_out=signed_out,
        provider_logout=_provider_logout() if signed_out else None,
    )


def _provider_logout() -> str | None:
    """The link that ends the single sign-on session too, when the provider offers one.

    A link the person follows, not a redirect of the sign-out form: the CSP's
    `form-action 'self'` would stop a form whose answer redirects to the provider.
    """
    client = _client()
    if client is None:
        return None
    try:
        return client.end_session_url(_public_url("console.login.page"))
    except DomainError:  # the provider is unreachable: the console session is ended anyway
        return None


@dataclass(frozen=True)
class Known:
    """What the development form suggests: the organisation's components, services, levels."""

    components: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()


def _known_places() -> Known:
    keeper: Gatekeeper = current_app.extensions[AUTH]
    if keeper.organisation is None:
        return Known()
    try:
        tree = keeper.organisation.tree()
    except DomainError:  # contacts not up yet: the form still works, without suggestions
        return Known()
    return Known(
        tuple(sorted(tree.components)),
        tuple(sorted({service for _, service in tree.services})),
        tree.levels,
    )


@blueprint.get("/login/sso")
def sso() -> Response:
    """Sends the browser to the provider with a fresh state, nonce and PKCE challenge.

    A link, not a form: the CSP's `form-action 'self'` would stop a form whose answer
    redirects to the provider. Starting a sign-in changes nothing but this browser's
    own pending state; the answer is bound to it by `state`.
    """
    client = _client()
    if client is None:
        return redirect(url_for("console.login.page"))
    target, pending = client.begin(_redirect_uri(), signed.safe_next(request.args.get("next")))
    session[_PENDING] = pending.as_dict()
    return redirect(target)


@blueprint.get("/login/callback")
def callback() -> Response | tuple[str, int]:
    """The provider's answer: exchange the code, verify the token, open the session."""
    client = _client()
    if client is None:
        return redirect(url_for("console.login.page"))
    pending_value = session.pop(_PENDING, None)
    try:
        if request.args.get("error"):
            raise InvalidArgument("the identity provider refused the sign-in")
        pending = Pending.from_dict(pending_value)
        tokens = client.finish(
            pending, request.args.get("state", ""), request.args.get("code", ""), _redirect_uri()
        )
        signed.start(tokens.access, tokens.refresh)
    except DomainError as error:
        return _failed(error.detail)
    return redirect(signed.safe_next(pending.next))


@blueprint.post("/login/dev")
def dev() -> Response | tuple[str, int]:
    """Mints a development token for the chosen placement and role, then signs in with it."""
    issuer: TokenIssuer | None = current_app.extensions.get(DEV)
    if issuer is None:
        abort(404)
    form = request.form
    roles = form.getlist("role")
    if not roles or not set(roles) <= {r.value for r in STAFF_ROLES}:
        return _failed("choose one or more roles (never service)")
    subject = form.get("subject", "").strip() or "dev-user"
    token = issuer.mint(
        subject,
        component=form.get("component", "").strip() or None,
        service=form.get("service", "").strip() or None,
        level=form.get("level", "").strip() or None,
        roles=roles,
        ttl_seconds=DEV_TOKEN_SECONDS,
        email=form.get("email", "").strip() or None,
    )
    try:
        signed.start(token)
    except DomainError as error:
        return _failed(error.detail)
    return redirect(signed.safe_next(form.get("next")))


@blueprint.post("/logout")
def logout() -> Response:
    signed.end()
    return redirect(url_for("console.login.page", signed_out=1))


def _failed(reason: str) -> tuple[str, int]:
    return _render(error=reason), 401
