"""Tokens from an OpenID Connect provider (Keycloak, a SAML bridge issuing OIDC tokens...).

Each trusted issuer is described by an `OidcIssuer` (one entry of the
`*_OIDC_ISSUERS` JSON list): its `issuer`, the `audience` its tokens must
name, its JWKS URI (explicit, or found in its discovery document) and how its
claims map onto the mesh's identity (meshkit.claims).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field

from meshkit.claims import ClaimsMapping
from meshkit.jwks import KeySet, Loader, url_loader

DISCOVERY_PATH = "/.well-known/openid-configuration"


class OidcIssuer(BaseModel):
    """One identity provider whose tokens the mesh trusts."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a default

    issuer: str = Field(description="The provider's `iss`, e.g. https://sso.example/realms/univ.")
    audience: str = Field(description="The `aud` its tokens must name (e.g. the client id).")
    jwks_uri: str | None = Field(
        None, description="Its JWKS URL; default: the `jwks_uri` of its discovery document."
    )
    claims: ClaimsMapping = Field(default_factory=ClaimsMapping)  # type: ignore[arg-type]
    min_refresh_seconds: float = Field(
        30.0, ge=1, description="Least time between two loads of its keys (unknown `kid`s)."
    )
    max_age_seconds: float = Field(
        3600.0, ge=1, description="Its keys are loaded again after this (revoked keys go)."
    )


class IssuerVerifier:
    """Verifies one provider's tokens with its key set; returns their claims."""

    def __init__(
        self,
        config: OidcIssuer,
        *,
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self._leeway = leeway_seconds
        self.keys = KeySet(
            _jwks_loader(config),
            name=config.issuer,
            min_refresh_seconds=config.min_refresh_seconds,
            max_age_seconds=config.max_age_seconds,
            clock=clock,
        )

    def decode(self, token: str, header: Mapping[str, Any]) -> dict[str, Any]:
        """The verified claims; a jwt.PyJWTError when the token does not verify."""
        key = self.keys.find(header.get("kid"))
        if key is None:
            raise UnknownKey("unknown key")
        if header.get("alg") not in key.algorithms:
            raise jwt.InvalidAlgorithmError("algorithm not allowed for this key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=list(key.algorithms),
            audience=self.config.audience,
            issuer=self.config.issuer,
            leeway=self._leeway,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
        return claims


class UnknownKey(jwt.InvalidTokenError):
    """The token names a key its issuer's set does not hold (even after a refresh)."""


def _jwks_loader(config: OidcIssuer) -> Loader:
    if config.jwks_uri:
        return url_loader(config.jwks_uri)
    discovery = url_loader(config.issuer.rstrip("/") + DISCOVERY_PATH)
    found: list[Loader] = []

    def load() -> Mapping[str, Any]:
        # The discovery document is read once; the key set on every refresh.
        if not found:
            document = discovery()
            uri = document.get("jwks_uri")
            if document.get("issuer") != config.issuer or not isinstance(uri, str):
                raise ValueError("the discovery document does not match the issuer")
            found.append(url_loader(uri))
        return found[0]()

    return load
