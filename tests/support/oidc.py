"""A tiny OpenID Connect provider for tests: discovery and JWKS over HTTP, tokens it signs,
and the authorization-code flow with PKCE (S256) that the console signs in with.

`login_as(**claims)` says who the next person to reach the authorization
endpoint is (the provider's own login form is not modelled): the endpoint
redirects back at once with a code, which the token endpoint exchanges only
with the matching code verifier, once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from meshkit.oidc import DISCOVERY_PATH

JWKS_PATH = "/protocol/openid-connect/certs"
AUTH_PATH = "/protocol/openid-connect/auth"
TOKEN_PATH = "/protocol/openid-connect/token"
LOGOUT_PATH = "/protocol/openid-connect/logout"


class TestProvider:
    """Serves `<issuer>/.well-known/openid-configuration` and its JWKS; signs tokens.

    `rotate()` replaces the served keys by a new one, as a provider's key rotation does;
    `down` makes every request fail with 503.
    """

    __test__ = False

    def __init__(self, kind: str = "RSA") -> None:
        self.kind = kind
        self.requests = 0
        self.down = False
        self._keys: list[tuple[str, Any]] = []
        self.rotate()
        self.user: dict[str, Any] | None = None  # who signs in at the authorization endpoint
        self.codes: dict[str, dict[str, Any]] = {}  # issued, not yet exchanged
        self.exchanges: list[dict[str, str]] = []  # every token request's form
        self.refresh_tokens: dict[str, dict[str, Any]] = {}  # live ones (rotated on use)
        self.logouts: list[dict[str, str]] = []  # every end-session request's query
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                route = next(
                    (
                        r
                        for r in (AUTH_PATH, LOGOUT_PATH)
                        if self.path.startswith("/realms/univ" + r)
                    ),
                    None,
                )
                if route is not None:
                    answer = provider._authorize if route == AUTH_PATH else provider._end_session
                    status, headers = answer(self.path)
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                document = provider._document(self.path)
                if provider.down or document is None:
                    self.send_response(503 if provider.down else 404)
                    self.end_headers()
                    return
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                provider.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path != "/realms/univ" + TOKEN_PATH:
                    status, document = 404, {"error": "not_found"}
                else:
                    status, document = provider._exchange(form)
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = f"{self.base}/realms/univ"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def jwks_uri(self) -> str:
        return self.issuer + JWKS_PATH

    def config(self, audience: str = "crm", **more: Any) -> dict[str, Any]:
        """One `*_OIDC_ISSUERS` entry trusting this provider (discovery finds its JWKS)."""
        return {"issuer": self.issuer, "audience": audience, **more}

    def env(self, prefix: str) -> dict[str, str]:
        """The setting that makes the service `prefix` names (e.g. "GATEWAY_") trust it."""
        return {f"{prefix}OIDC_ISSUERS": json.dumps([self.config()])}

    def rotate(self) -> str:
        """A new signing key replaces the served ones; returns its `kid`."""
        kid = secrets.token_hex(8)
        if self.kind == "RSA":
            key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        self._keys = [(kid, key)]
        return kid

    @property
    def private_key(self) -> Any:
        return self._keys[-1][1]

    @property
    def kid(self) -> str:
        return self._keys[-1][0]

    def _document(self, path: str) -> dict[str, Any] | None:
        if path == "/realms/univ" + DISCOVERY_PATH:
            return {
                "issuer": self.issuer,
                "jwks_uri": self.jwks_uri,
                "authorization_endpoint": self.issuer + AUTH_PATH,
                "token_endpoint": self.issuer + TOKEN_PATH,
                "end_session_endpoint": self.issuer + LOGOUT_PATH,
            }
        if path == "/realms/univ" + JWKS_PATH:
            keys = []
            for kid, key in self._keys:
                algorithm = RSAAlgorithm if self.kind == "RSA" else ECAlgorithm
                jwk = algorithm.to_jwk(key.public_key(), as_dict=True)
                keys.append({**jwk, "kid": kid, "use": "sig"})
            # Keycloak also publishes an encryption key: verifiers must skip it.
            keys.append({"kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB"})
            return {"keys": keys}
        return None

    def claims(self, audience: str = "crm", **claims: Any) -> dict[str, Any]:
        """Keycloak-like access-token claims, with `claims` on top (None removes one)."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": "f1e2d3c4-0000-4000-8000-000000000001",
            "iat": now,
            "exp": now + 300,
            "typ": "Bearer",
            "azp": "crm",
            "email": "alice.martin@univ.example",
        }
        base.update(claims)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, *, algorithm: str | None = None, kid: str | None = None, **claims: Any) -> str:
        """A token signed with the current key (RS256 or ES256 unless `algorithm`)."""
        algorithm = algorithm or ("RS256" if self.kind == "RSA" else "ES256")
        return jwt.encode(
            self.claims(**claims),
            self.private_key,
            algorithm=algorithm,
            headers={"kid": kid or self.kid},
        )

    def login_as(self, **claims: Any) -> None:
        """The next sign-in at the authorization endpoint is this person (claims on top of
        `claims()`'s defaults, e.g. groups=["/sciences"], realm_access={"roles": [...]})."""
        self.user = claims

    def _authorize(self, path: str) -> tuple[int, dict[str, str]]:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        redirect_uri = query.get("redirect_uri", "")
        if (
            self.user is None
            or query.get("response_type") != "code"
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
            or not redirect_uri
        ):
            return 400, {}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": query["code_challenge"],
            "redirect_uri": redirect_uri,
            "client_id": query.get("client_id", ""),
            "nonce": query.get("nonce", ""),
            "claims": dict(self.user),
        }
        answer = urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": f"{redirect_uri}?{answer}"}

    def _end_session(self, path: str) -> tuple[int, dict[str, str]]:
        """Ends "the session" (records the request) and sends the browser back where the
        client asked, as Keycloak does for a client id with a known redirect."""
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        self.logouts.append(query)
        back = query.get("post_logout_redirect_uri", "")
        if not back or not query.get("client_id"):
            return 400, {}
        return 302, {"Location": back}

    def _exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.exchanges.append(form)
        if form.get("grant_type") == "refresh_token":
            grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant is None or form.get("client_id") != grant["client_id"]:
                return 400, {"error": "invalid_grant"}
            return 200, self._tokens(grant["claims"], grant["client_id"])
        issued = self.codes.pop(form.get("code", ""), None)  # a code works once
        if issued is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if (
            challenge != issued["challenge"]
            or form.get("redirect_uri") != issued["redirect_uri"]
            or form.get("client_id") != issued["client_id"]
        ):
            return 400, {"error": "invalid_grant"}
        claims, client_id = issued["claims"], issued["client_id"]
        id_claims = {**claims, "nonce": issued["nonce"], "typ": "ID"}
        tokens = self._tokens(claims, client_id)
        tokens["id_token"] = self.token(audience=client_id, **id_claims)
        return 200, tokens

    def _tokens(self, claims: dict[str, Any], client_id: str) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens[refresh] = {"claims": claims, "client_id": client_id}
        return {
            "access_token": self.token(**claims),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": 300,
        }
