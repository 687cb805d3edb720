"""Token verification: signature, issuer, audience, expiry, claims; from a key file or a JWKS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest

from meshkit.errors import Unauthenticated
from meshkit.identity import Principal, TokenIssuer, TokenVerifier, load_public_key
from tests.support.tokens import AUDIENCE, ISSUER, TestKeys


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> TestKeys:
    return TestKeys(tmp_path_factory.mktemp("keys"))


def _raw(keys: TestKeys, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, keys.private_file.read_bytes(), algorithm="ES256")


def test_a_valid_token_gives_its_principal(keys: TestKeys) -> None:
    token = keys.issuer.mint(
        "alice", component="sciences", service="com", level="director", roles=["admin"]
    )
    assert keys.verifier.verify(token) == Principal(
        "alice", "sciences", "com", "director", frozenset({"admin"})
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "another-audience"}, "wrong audience"),
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"exp": None}, "missing claim"),
        ({"sub": None}, "missing claim"),
        ({"roles": "admin"}, "roles must be a list"),
        ({"component": 7}, "component must be a string"),
    ],
)
def test_bad_claims_are_refused(keys: TestKeys, overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        keys.verifier.verify(_raw(keys, **overrides))


def test_another_keys_signature_is_refused(keys: TestKeys, tmp_path: Path) -> None:
    forged = TestKeys(tmp_path).issuer.mint("alice", roles=["admin"])
    with pytest.raises(Unauthenticated, match="bad signature"):
        keys.verifier.verify(forged)


def test_an_unsigned_token_is_refused(keys: TestKeys) -> None:
    unsigned = jwt.encode({"sub": "a", "iss": ISSUER, "aud": AUDIENCE}, None, algorithm="none")
    with pytest.raises(Unauthenticated):
        keys.verifier.verify(unsigned)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer  "])
def test_malformed_authorization_headers_are_refused(keys: TestKeys, header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        keys.verifier.verify_header(header)


@pytest.fixture
def jwks_url(keys: TestKeys) -> Iterator[str]:
    public = load_public_key(keys.public_file)
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    body = json.dumps({"keys": [{**jwk, "kid": keys.issuer.key_id, "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


def test_a_jwks_url_verifies_tokens_by_key_id(
    keys: TestKeys, jwks_url: str, tmp_path: Path
) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, jwks_url=jwks_url)
    principal = verifier.verify(keys.issuer.mint("bob", component="medecine"))
    assert (principal.subject, principal.component) == ("bob", "medecine")
    stranger = TestKeys(tmp_path)
    with pytest.raises(Unauthenticated):
        verifier.verify(stranger.issuer.mint("bob", component="medecine"))


def test_key_ids_differ_between_keys(keys: TestKeys, tmp_path: Path) -> None:
    other = TokenIssuer(TestKeys(tmp_path).private_file, ISSUER, AUDIENCE)
    assert other.key_id != keys.issuer.key_id
    assert jwt.get_unverified_header(keys.issuer.mint("x"))["kid"] == keys.issuer.key_id
