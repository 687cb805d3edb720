"""A tiny OpenID Connect provider for tests: discovery and JWKS over HTTP, tokens it signs."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from meshkit.oidc import DISCOVERY_PATH

JWKS_PATH = "/protocol/openid-connect/certs"


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
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
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
            return {"issuer": self.issuer, "jwks_uri": self.jwks_uri}
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
