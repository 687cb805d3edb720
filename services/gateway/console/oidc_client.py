"""The console as an OpenID Connect client: authorization code with PKCE (RFC 7636).

`begin()` makes the state, nonce and code verifier kept in the session and the
provider's authorization URL; `finish()` checks the state, exchanges the code
(with the verifier) at the token endpoint, checks the ID token's nonce and
returns the access token, which the console then verifies like any API token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from meshkit.errors import Unauthenticated
from meshkit.oidc import DISCOVERY_PATH, IssuerVerifier, OidcIssuer

TIMEOUT_SECONDS = 10.0
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint returned: the access token, and a refresh token if any."""

    access: str
    refresh: str = ""


@dataclass(frozen=True)
class Pending:
    """What the session keeps between the redirect to the provider and its answer."""

    state: str
    nonce: str
    verifier: str
    next: str

    def as_dict(self) -> dict[str, str]:
        return {
            "state": self.state,
            "nonce": self.nonce,
            "verifier": self.verifier,
            "next": self.next,
        }

    @classmethod
    def from_dict(cls, value: Any) -> Pending:
        if not isinstance(value, dict):
            raise Unauthenticated("no sign-in is in progress")
        try:
            return cls(
                str(value["state"]), str(value["nonce"]), str(value["verifier"]), str(value["next"])
            )
        except KeyError:
            raise Unauthenticated("no sign-in is in progress") from None


def challenge(verifier: str) -> str:
    """The S256 code challenge of a code verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    """One provider, one client id; endpoints read from its discovery document once."""

    def __init__(
        self, issuer: OidcIssuer, client_id: str, client_secret: str = "", scopes: str = "openid"
    ):
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self._endpoints: dict[str, str] | None = None
        # ID tokens name the client as their audience, not the API's audience.
        id_config = issuer.model_copy(update={"audience": client_id})
        self._id_tokens = IssuerVerifier(id_config)

    def endpoints(self) -> dict[str, str]:
        if self._endpoints is None:
            document = _get_json(self.issuer.issuer.rstrip("/") + DISCOVERY_PATH)
            if document.get("issuer") != self.issuer.issuer:
                raise Unauthenticated("the provider's discovery document names another issuer")
            try:
                self._endpoints = {
                    "authorization": str(document["authorization_endpoint"]),
                    "token": str(document["token_endpoint"]),
                }
            except KeyError:
                raise Unauthenticated("the provider publishes no authorization endpoints") from None
            ending = document.get("end_session_endpoint")
            if isinstance(ending, str) and ending.startswith(("https://", "http://")):
                self._endpoints["end_session"] = ending
        return self._endpoints

    def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """Where a browser ends its session at the provider (OpenID Connect RP-Initiated
        Logout 1.0, by client id), then comes back; None when the provider has no such
        endpoint. The provider must know `post_logout_redirect_uri` for this client."""
        ending = self.endpoints().get("end_session")
        if ending is None:
            return None
        query = urllib.parse.urlencode(
            {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        )
        return f"{ending}{'&' if '?' in ending else '?'}{query}"

    def begin(self, redirect_uri: str, next_path: str) -> tuple[str, Pending]:
        """The provider URL to send the browser to, and what to keep until it comes back."""
        pending = Pending(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(64),
            next=next_path,
        )
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scopes,
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": challenge(pending.verifier),
                "code_challenge_method": "S256",
            }
        )
        authorization = self.endpoints()["authorization"]
        separator = "&" if "?" in authorization else "?"
        return f"{authorization}{separator}{query}", pending

    def finish(self, pending: Pending, state: str, code: str, redirect_uri: str) -> Tokens:
        """The tokens for `code`, once the state and the ID token's nonce match."""
        if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise Unauthenticated("the sign-in answer does not match the sign-in started here")
        if not code:
            raise Unauthenticated("the provider sent no authorization code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": pending.verifier,
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.client_secret:
            pair = f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        answer = _post_form(self.endpoints()["token"], form, headers)
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise Unauthenticated("the provider returned no access token")
        id_token = answer.get("id_token")
        if isinstance(id_token, str) and id_token:
            try:
                claims = self._id_tokens.decode(id_token, jwt.get_unverified_header(id_token))
            except jwt.PyJWTError:
                raise Unauthenticated("the provider's ID token does not verify") from None
            nonce = str(claims.get("nonce", ""))
            if not hmac.compare_digest(nonce.encode(), pending.nonce.encode()):
                raise Unauthenticated("the ID token's nonce does not match this sign-in")
        return _tokens(answer)

    def refresh(self, refresh_token: str) -> Tokens:
        """New tokens for a refresh token (the access token lapsed while the session lasts)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return _tokens(self._token_request({**form, "client_id": self.client_id}))

    def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.client_secret:
            pair = f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return _post_form(self.endpoints()["token"], form, headers)


def _tokens(answer: dict[str, Any]) -> Tokens:
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise Unauthenticated("the provider returned no access token")
    refresh = answer.get("refresh_token")
    return Tokens(access, refresh if isinstance(refresh, str) else "")


def _get_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    return _json(request)


def _post_form(url: str, form: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
    body = urllib.parse.urlencode(form).encode()
    return _json(urllib.request.Request(url, data=body, headers=headers, method="POST"))


def _json(request: urllib.request.Request) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            document = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        raise Unauthenticated(f"the identity provider refused the sign-in ({error.code})") from None
    except (urllib.error.URLError, OSError, ValueError):
        raise Unauthenticated("the identity provider could not be reached") from None
    if not isinstance(document, dict):
        raise Unauthenticated("the identity provider sent an unreadable answer")
    return document
