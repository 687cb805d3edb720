"""Token verification: development tokens, and each service's own tokens from its own key."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from meshkit.errors import Unauthenticated
from meshkit.identity import (
    SERVICE_KEYS_REFRESH_SECONDS,
    Principal,
    TokenIssuer,
    TokenVerifier,
)
from meshkit.service_keys import JWKS_FILE, SERVICE_NAMES, make_service_keys, private_key_file
from meshkit.settings import make_dev_keys
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
    stranger = TestKeys(tmp_path)
    with pytest.raises(Unauthenticated, match="unknown key"):
        keys.verifier.verify(stranger.issuer.mint("alice", roles=["admin"]))
    # The same, claiming the development key's id: the signature gives it away.
    forged = jwt.encode(
        {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": 1, "exp": 2**40},
        stranger.private_file.read_bytes(),
        algorithm="ES256",
        headers={"kid": keys.issuer.key_id},
    )
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


def test_a_service_token_signed_by_its_own_key_is_that_service(keys: TestKeys) -> None:
    principal = keys.verifier.verify(keys.service("campaigns"))
    assert principal == Principal("service:campaigns", roles=frozenset({"service"}))


def _signed_by(keys: TestKeys, name: str, **claims: Any) -> str:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    base.update({"sub": f"service:{name}", "roles": ["service"], **claims})
    issuer = keys.service_issuer(name)
    private = keys.service_private_file(name).read_bytes()
    return jwt.encode(base, private, algorithm="ES256", headers={"kid": issuer.key_id})


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"roles": ["admin"]}, "service role alone"),
        ({"roles": ["service", "admin"]}, "service role alone"),
        ({"sub": "admin@grouping", "roles": ["admin"]}, "its own service"),
        ({"sub": "service:contacts"}, "its own service"),
        ({"component": "sciences"}, "no placement"),
        ({"level": "director"}, "no placement"),
    ],
)
def test_a_service_key_mints_nothing_but_its_own_service_token(
    keys: TestKeys, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        keys.verifier.verify(_signed_by(keys, "campaigns", **claims))


@pytest.mark.parametrize(
    "token",
    [
        lambda keys: keys.issuer.mint("service:contacts", roles=["service"]),
        lambda keys: keys.issuer.mint("someone", roles=["service"]),
        lambda keys: keys.issuer.mint("service:contacts", roles=["admin"]),
    ],
    ids=["service token", "service role", "service subject"],
)
def test_a_user_key_cannot_make_a_service_token(keys: TestKeys, token: Any) -> None:
    with pytest.raises(Unauthenticated, match="cannot act as a service"):
        keys.verifier.verify(token(keys))


def test_without_a_development_key_no_development_token_passes(keys: TestKeys) -> None:
    services_only = TokenVerifier(ISSUER, AUDIENCE, service_keys_file=keys.service_keys_file)
    assert services_only.verify(keys.service("gateway")).subject == "service:gateway"
    with pytest.raises(Unauthenticated, match="unknown key"):
        services_only.verify(keys.admin())


def test_a_new_service_key_is_read_without_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    make_service_keys(folder, ["contacts"])
    clock = [0.0]
    verifier = TokenVerifier(
        ISSUER, AUDIENCE, service_keys_file=folder / JWKS_FILE, clock=lambda: clock[0]
    )
    contacts = TokenIssuer(private_key_file(folder, "contacts"), ISSUER, AUDIENCE)
    assert verifier.verify(contacts.mint("service:contacts", roles=["service"])).is_service
    make_service_keys(folder, ["contacts", "consent"])  # a service added to the mesh
    consent = TokenIssuer(private_key_file(folder, "consent"), ISSUER, AUDIENCE)
    clock[0] += SERVICE_KEYS_REFRESH_SECONDS
    assert verifier.verify(consent.mint("service:consent", roles=["service"])).is_service


def test_the_service_keys_file_names_each_keys_service(tmp_path: Path) -> None:
    make_dev_keys(tmp_path)
    document = json.loads((tmp_path / JWKS_FILE).read_text())
    assert sorted(key["service"] for key in document["keys"]) == sorted(SERVICE_NAMES)
    assert all("d" not in key for key in document["keys"])  # public halves only
    kids = {key["kid"] for key in document["keys"]}
    dev = TokenIssuer(tmp_path / "dev-private.pem", ISSUER, AUDIENCE)
    assert len(kids) == 4 and dev.key_id not in kids
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    make_dev_keys(tmp_path)  # made once: a second run changes nothing
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_key_ids_differ_between_keys(keys: TestKeys, tmp_path: Path) -> None:
    other = TokenIssuer(TestKeys(tmp_path).private_file, ISSUER, AUDIENCE)
    assert other.key_id != keys.issuer.key_id
    assert jwt.get_unverified_header(keys.issuer.mint("x"))["kid"] == keys.issuer.key_id
