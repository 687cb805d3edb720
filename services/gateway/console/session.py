"""Who is signed in to the console, checked again on every request.

The session cookie (Flask's, signed with GATEWAY_CONSOLE_SECRET; `HttpOnly`,
`Secure`, `SameSite=Lax`, path `/console`) keeps the access token the user
signed in with, and the provider's refresh token if it gave one: an access
token that lapsed (providers issue them for minutes) is renewed once with it,
and when that fails too the user signs in again. Each request verifies the
token exactly as the API verifies a bearer token (same verifier, same
organisation check) and forwards it upstream, so a page can never show more
than the API would show the same person.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from meshkit.errors import DomainError, PermissionDenied
from meshkit.identity import Principal
from meshkit.roles import Role
from services.gateway.auth import EXTENSION as AUTH
from services.gateway.auth import Gatekeeper

_TOKEN = "token"
_REFRESH = "refresh"
REFRESHER = "crm.console.refresher"  # app extension: a callable refresh token -> (access, refresh)
View = TypeVar("View", bound=Callable[..., Any])


class SignInNeeded(Exception):
    """No session, or its token no longer verifies: the user signs in again."""

    def __init__(self, expired: bool = False):
        super().__init__("sign-in needed")
        self.expired = expired


def start(token: str, refresh: str = "") -> Principal:
    """Verifies `token` and opens a session holding it (a fresh session: no fixation)."""
    principal = verify(token)
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session[_TOKEN] = token
    if refresh:
        session[_REFRESH] = refresh
    session.permanent = True
    return principal


def end() -> None:
    session.clear()


def verify(token: str) -> Principal:
    """The principal of `token`, as the API's authentication would see it."""
    keeper: Gatekeeper = current_app.extensions[AUTH]
    principal = keeper.verifier.verify(token)
    if keeper.organisation is not None:
        principal = keeper.organisation.effective(principal)
    if principal.is_service:
        raise PermissionDenied("service tokens cannot sign in to the console")
    return principal


def load() -> Principal | None:
    """The signed-in principal (also on flask.g, with the token upstream calls forward)."""
    if "principal" in g:
        return g.principal  # type: ignore[no-any-return]
    token = session.get(_TOKEN)
    if not isinstance(token, str) or not token:
        return None
    try:
        principal = verify(token)
    except DomainError:
        token, principal = _renewed()
    g.principal = principal
    g.token = token
    return principal


def _renewed() -> tuple[str, Principal]:
    """A new access token from the session's refresh token, or SignInNeeded."""
    refresh = session.get(_REFRESH)
    refresher = current_app.extensions.get(REFRESHER)
    if not isinstance(refresh, str) or not refresh or refresher is None:
        _lapsed()
    try:
        token, new_refresh = refresher(refresh)
        principal = verify(token)
    except DomainError:
        _lapsed()
    session[_TOKEN] = token
    session[_REFRESH] = new_refresh or refresh
    return token, principal


def _lapsed() -> NoReturn:
    """Ends a session whose token lapsed and cannot be renewed; this request remembers it,
    so the sign-in page it leads to says so even if a hook asked first."""
    end()
    g.sign_in_lapsed = True
    raise SignInNeeded(expired=True)


def signed_in() -> Principal:
    """The signed-in principal, or SignInNeeded."""
    principal = load()
    if principal is None:
        raise SignInNeeded(expired=bool(g.get("sign_in_lapsed")))
    return principal


def login_required(view: View) -> View:
    """The view runs only for a signed-in user."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        signed_in()
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


def role_required(*roles: Role, component: bool = True) -> Callable[[View], View]:
    """The view runs only for a signed-in user holding one of `roles` (and a component).

    A user lacking it gets the same 403 page the API's 403 problem would be.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            principal = signed_in()
            if component:
                principal.require_component()
            if roles and not any(principal.has_role(role) for role in roles):
                principal.require_role(roles[0])
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            if "\\" not in target and not target.startswith("//"):
                return target
    return url_for("console.home")


def to_login(expired: bool = False) -> Response:
    """A redirect to the sign-in page, coming back here afterwards."""
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("console.login.page", next=target, expired=int(expired) or None))
