"""Tokens of an OIDC provider: verified with its JWKS (served here over HTTP), claims mapped."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from meshkit.errors import Unauthenticated, Unavailable
from meshkit.identity import Principal, TokenVerifier
from meshkit.oidc import OidcIssuer
from tests.support.oidc import TestProvider
from tests.support.tokens import AUDIENCE, ISSUER, TestKeys

KEYCLOAK_CLAIMS: dict[str, Any] = {
    "groups": ["/sciences/relations-entreprises"],
    "realm_access": {"roles": ["offline_access", "crm-admin", "default-roles-univ"]},
    "resource_access": {"crm": {"roles": ["campaign_manager"]}, "account": {"roles": ["x"]}},
    "level": "manager",
}


class Clock:
    """A clock the test moves by hand (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_provider() -> Iterator[TestProvider]:
    provider = TestProvider("RSA")
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def ec_provider() -> Iterator[TestProvider]:
    provider = TestProvider("EC")
    yield provider
    provider.close()


def verifier_for(*configs: dict[str, Any], clock: Clock | None = None) -> TokenVerifier:
    issuers = [OidcIssuer.model_validate(config) for config in configs]
    return TokenVerifier(ISSUER, AUDIENCE, oidc_issuers=issuers, clock=clock or Clock())


def keycloak_config(provider: TestProvider, **more: Any) -> dict[str, Any]:
    mapping = {
        "role_claims": ["realm_access.roles", "resource_access.crm.roles"],
        "role_names": {"crm-admin": "admin"},
    }
    return provider.config(claims=mapping, **more)


def test_a_keycloak_token_is_accepted_with_its_claims_mapped(rsa_provider: TestProvider) -> None:
    verifier = verifier_for(keycloak_config(rsa_provider))  # the JWKS found by discovery
    principal = verifier.verify(rsa_provider.token(**KEYCLOAK_CLAIMS))
    assert principal == Principal(
        subject="f1e2d3c4-0000-4000-8000-000000000001",
        component="sciences",
        service="relations-entreprises",
        level="manager",
        roles=frozenset({"admin", "campaign_manager"}),
        email="alice.martin@univ.example",
    )


def test_an_ec_key_and_an_explicit_jwks_uri_work_too(ec_provider: TestProvider) -> None:
    verifier = verifier_for(ec_provider.config(jwks_uri=ec_provider.jwks_uri))
    principal = verifier.verify(ec_provider.token(groups=["/droit"]))
    assert (principal.component, principal.service, principal.roles) == ("droit", None, set())


def test_ps256_is_accepted_from_an_rsa_key(rsa_provider: TestProvider) -> None:
    verifier = verifier_for(rsa_provider.config())
    assert verifier.verify(rsa_provider.token(algorithm="PS256", groups=["/droit"])).component == (
        "droit"
    )


def test_a_rotated_key_is_picked_up_without_a_restart() -> None:
    provider, clock = TestProvider("EC"), Clock()
    try:
        verifier = verifier_for(provider.config(), clock=clock)
        assert verifier.verify(provider.token(groups=["/droit"])).component == "droit"
        provider.rotate()
        clock.now += 31  # past the least time between two loads of the keys
        assert verifier.verify(provider.token(groups=["/law"])).component == "law"
    finally:
        provider.close()


def test_random_key_ids_do_not_hammer_the_provider(ec_provider: TestProvider) -> None:
    verifier = verifier_for(ec_provider.config())
    verifier.verify(ec_provider.token())
    before = ec_provider.requests
    for _ in range(20):
        with pytest.raises(Unauthenticated, match="unknown key"):
            verifier.verify(ec_provider.token(kid=secrets.token_hex(8)))
    assert ec_provider.requests - before <= 1  # one refresh at most within the interval


def test_a_provider_down_keeps_the_keys_already_loaded() -> None:
    provider, clock = TestProvider("EC"), Clock()
    try:
        verifier = verifier_for(provider.config(max_age_seconds=60), clock=clock)
        verifier.verify(provider.token())
        provider.down = True
        clock.now += 120  # the keys are old, the provider does not answer
        assert verifier.verify(provider.token(groups=["/droit"])).component == "droit"
        fresh = verifier_for(provider.config(), clock=clock)
        with pytest.raises(Unavailable):
            fresh.verify(provider.token())
    finally:
        provider.close()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown key", "unknown key"),
        ("another issuer", "wrong issuer"),
        ("wrong audience", "wrong audience"),
        ("expired", "expired"),
        ("alg none", "algorithm not allowed"),
        ("HS256 with the public key", "algorithm not allowed"),
        ("service role", "cannot act as a service"),
        ("service subject", "cannot act as a service"),
        ("several groups", "several groups"),
        ("no subject", "missing claim"),
    ],
)
def test_bad_provider_tokens_are_refused(ec_provider: TestProvider, case: str, reason: str) -> None:
    verifier = verifier_for(ec_provider.config())
    with pytest.raises(Unauthenticated, match=reason):
        verifier.verify(bad_token(ec_provider, case))


def bad_token(provider: TestProvider, case: str) -> str:
    if case == "unknown key":
        other = TestProvider("EC")  # same issuer name, its own key and kid
        other.issuer = provider.issuer
        try:
            return other.token()
        finally:
            other.close()
    if case == "another issuer":
        return provider.token(iss="https://sso.elsewhere.example/realms/univ")
    if case == "wrong audience":
        return provider.token(aud="account")
    if case == "expired":
        return provider.token(exp=1_000_000)
    if case == "alg none":
        claims = provider.claims()
        return jwt.encode(claims, None, algorithm="none", headers={"kid": provider.kid})
    if case == "HS256 with the public key":
        # The classic confusion: the public key's bytes as an HMAC secret.
        secret = provider.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hmac_token(provider.claims(), secret, provider.kid)
    if case == "service role":
        return provider.token(realm_access={"roles": ["service"]})
    if case == "service subject":
        return provider.token(sub="service:contacts")
    if case == "several groups":
        return provider.token(groups=["/droit", "/sciences/com"])
    if case == "no subject":
        return provider.token(sub=None)
    raise AssertionError(case)


def hmac_token(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """An HS256 token made by hand (PyJWT itself refuses a PEM key as an HMAC secret)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = part(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{part(signature)}"


def test_the_preferred_component_claim_settles_several_groups(ec_provider: TestProvider) -> None:
    verifier = verifier_for(ec_provider.config())
    token = ec_provider.token(groups=["/droit", "/sciences/com"], crm_component="sciences")
    assert verifier.verify(token).service == "com"


def test_a_prefix_leaves_other_groups_out(ec_provider: TestProvider) -> None:
    verifier = verifier_for(ec_provider.config(claims={"group_prefix": "/crm/"}))
    token = ec_provider.token(groups=["/staff", "/crm/droit", "/library/readers"])
    assert verifier.verify(token).component == "droit"


def test_development_and_provider_tokens_live_side_by_side(
    ec_provider: TestProvider, tmp_path: Any
) -> None:
    keys = TestKeys(tmp_path)
    issuers = [OidcIssuer.model_validate(ec_provider.config())]
    verifier = TokenVerifier(
        ISSUER,
        AUDIENCE,
        public_key_file=keys.public_file,
        service_keys_file=keys.service_keys_file,
        oidc_issuers=issuers,
    )
    assert verifier.verify(keys.manager("droit")).component == "droit"
    assert verifier.verify(ec_provider.token(groups=["/law"])).component == "law"
    assert verifier.verify(keys.service("consent")).subject == "service:consent"
    # A provider token signed with the development key is still the provider's: refused.
    forged = jwt.encode(
        ec_provider.claims(),
        keys.private_file.read_bytes(),
        algorithm="ES256",
        headers={"kid": ec_provider.kid},
    )
    with pytest.raises(Unauthenticated, match="bad signature"):
        verifier.verify(forged)


def test_an_issuer_may_not_reuse_the_mesh_issuer() -> None:
    with pytest.raises(ValueError, match="differ"):
        TokenVerifier(ISSUER, AUDIENCE, oidc_issuers=[OidcIssuer(issuer=ISSUER, audience="crm")])
