"""Signing in to the console from a test, over real HTTP, the way a browser does.

`ConsoleClient` follows the OIDC authorization-code flow with PKCE against the
test identity provider (tests/support/oidc.py), keeps the session cookie
(sent by hand: it is `Secure`, and these tests speak plain HTTP to
127.0.0.1, as browsers allow for loopback) and reads the CSRF token of the
last page it fetched. `person(...)` builds the Keycloak-shaped claims of a
member of staff.
"""

from __future__ import annotations

import html as html_lib
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.oidc import TestProvider

COOKIE = "crm_console"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def person(
    component: str | None,
    role: str | Sequence[str],
    *,
    service: str | None = None,
    level: str | None = None,
    email: str = "staff@univ.example",
    subject: str | None = None,
) -> dict[str, Any]:
    """Claims of a member of staff as Keycloak would issue them (groups, realm roles).

    `role`: one role or several (a manager usually also edits contacts).
    """
    roles = [role] if isinstance(role, str) else list(role)
    claims: dict[str, Any] = {
        "realm_access": {"roles": roles},
        "email": email,
        "sub": subject
        or f"{component or 'grouping'}-{'+'.join(roles)}-{service or ''}-{level or ''}",
    }
    if component:
        claims["groups"] = [f"/{component}" + (f"/{service}" if service else "")]
    if level:
        claims["level"] = level
    return claims


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def html(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def text(self) -> str:
        """The page's text without tags (entities decoded), for "never contains" checks."""
        without_tags = re.sub(r"<[^>]+>", " ", self.html)
        return html_lib.unescape(without_tags)

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def csrf(self) -> str:
        found = _CSRF.search(self.html)
        assert found, f"no CSRF token on the page (status {self.status})"
        return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Page:
    """One request, redirects not followed; any status is returned, not raised."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _opener.open(request, timeout=60) as reply:
            return Page(reply.status, dict(reply.headers), reply.read())
    except urllib.error.HTTPError as error:
        return Page(error.code, dict(error.headers), error.read())


@dataclass
class ConsoleClient:
    """One browser-like user of the console at `base` (http://host:port of the gateway)."""

    base: str
    provider: TestProvider
    cookie: str = ""
    last: Page | None = field(default=None, repr=False)

    def _send(self, path: str, data: bytes | None = None, ctype: str | None = None) -> Page:
        headers = {"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}
        if ctype:
            headers["Content-Type"] = ctype
        url = path if path.startswith("http") else self.base + path
        page = fetch(url, data, headers)
        for name, value in page.headers.items():
            if name.lower() == "set-cookie" and value.startswith(f"{COOKIE}="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1]
        return page

    def get(self, path: str) -> Page:
        page = self._send(path)
        if page.status == 200:
            self.last = page
        return page

    def post(self, path: str, form: dict[str, str] | None = None, *, csrf: bool = True) -> Page:
        """POSTs a form; with the CSRF token of the last page fetched unless `csrf=False`."""
        values = dict(form or {})
        if csrf and "csrf_token" not in values:
            assert self.last is not None, "fetch a page before posting (its CSRF token)"
            values["csrf_token"] = self.last.csrf()
        body = urllib.parse.urlencode(values, doseq=True).encode()
        return self._send(path, body, "application/x-www-form-urlencoded")

    def sign_in(self, claims: dict[str, Any], next_path: str = "") -> Page:
        """The whole OIDC sign-in; returns the page the console lands on."""
        self.provider.login_as(**claims)
        query = urllib.parse.urlencode({"next": next_path}) if next_path else ""
        to_provider = self._send(f"/console/login/sso?{query}")
        assert to_provider.status in (302, 303), to_provider.html
        back = fetch(to_provider.location)
        assert back.status == 302, f"the provider refused the sign-in ({back.status})"
        landed = self._send(back.location)
        assert landed.status in (302, 303), landed.html
        return self.get(landed.location)

    def sign_out(self) -> Page:
        self.get("/console/")
        return self.post("/console/logout")
