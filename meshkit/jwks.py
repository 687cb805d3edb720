"""JSON Web Key Sets that verify tokens: parsed, cached, refreshed on an unknown key id.

A set is loaded lazily (from a URL or a file), kept `max_age_seconds`, and
loaded again when a token names a key id the set lacks, at most once per
`min_refresh_seconds`: tokens with random key ids cannot make us hammer the
identity provider, and a rotated key is picked up without a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm

from meshkit.errors import Unavailable

log = logging.getLogger(__name__)

# The only signature algorithms any verifier of the mesh accepts (never `none` nor HS*).
RSA_ALGORITHMS = ("RS256", "PS256")
EC_ALGORITHMS = ("ES256",)
FETCH_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 1_000_000

Loader = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class VerifyingKey:
    """One public key of a set: its id, the algorithms it may verify, its `service` member."""

    kid: str | None
    key: Any
    algorithms: tuple[str, ...]
    service: str | None = None


def parse_jwks(document: Mapping[str, Any]) -> list[VerifyingKey]:
    """The signature keys of a JWKS; encryption keys and unsupported types are skipped."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("a JWKS needs a `keys` list")
    return [key for jwk in keys if isinstance(jwk, dict) and (key := _parse_key(jwk))]


def _parse_key(jwk: dict[str, Any]) -> VerifyingKey | None:
    if jwk.get("use", "sig") != "sig":
        return None
    allowed: tuple[str, ...]
    if jwk.get("kty") == "RSA":
        allowed = RSA_ALGORITHMS
    elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        allowed = EC_ALGORITHMS
    else:
        return None
    declared = jwk.get("alg")
    algorithms = allowed if declared is None else tuple(a for a in allowed if a == declared)
    if not algorithms:
        return None
    try:
        key = jwt.PyJWK(jwk, algorithms[0]).key
    except (jwt.PyJWTError, ValueError, TypeError):
        log.warning("a key of a JWKS does not parse; skipped")
        return None
    service = jwk.get("service")
    return VerifyingKey(
        jwk.get("kid"), key, algorithms, service if isinstance(service, str) else None
    )


def public_jwk(public_key: Any, kid: str, **members: str) -> dict[str, Any]:
    """The public JWK of an EC P-256 key, for ES256 signatures, with extra members."""
    jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256", **members}


def url_loader(url: str) -> Loader:
    """Loads a JSON document over HTTP(S), bounded in time and size."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("a JWKS or discovery URL must be http(s)")

    def load() -> Mapping[str, Any]:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            return _document(response.read(MAX_DOCUMENT_BYTES + 1))

    return load


def file_loader(path: Path) -> Loader:
    """Loads a JSON document from a file (read again on each refresh)."""
    return lambda: _document(path.read_bytes())


def _document(raw: bytes) -> Mapping[str, Any]:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ValueError("the JSON document is too large")
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("the JSON document is not an object")
    return document


class KeySet:
    """A JWKS kept in memory; `find(kid)` loads it first, or again on an unknown kid."""

    def __init__(
        self,
        load: Loader,
        *,
        name: str,
        min_refresh_seconds: float = 30.0,
        max_age_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._load = load
        self._name = name  # for logs: which set, never a token
        self._min_refresh = min_refresh_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[VerifyingKey] | None = None
        self._loaded_at = 0.0
        self._tried_at: float | None = None
        self.loads = 0  # how many times the set was loaded (tests count them)

    def find(self, kid: str | None) -> VerifyingKey | None:
        """The key named `kid` (or the only key, for a token naming none); None when absent."""
        with self._lock:
            now = self._clock()
            stale = self._keys is None or now - self._loaded_at >= self._max_age
            if stale or _pick(self._keys or [], kid) is None:
                self._refresh(now)
            if self._keys is None:
                raise Unavailable("the keys that verify tokens cannot be loaded now")
            return _pick(self._keys, kid)

    def _refresh(self, now: float) -> None:
        # At most one load per `min_refresh` seconds, failed or not, whatever tokens arrive.
        if self._tried_at is not None and now - self._tried_at < self._min_refresh:
            return
        self._tried_at = now
        try:
            keys = parse_jwks(self._load())
        except (OSError, ValueError) as error:
            # Keep the keys already known: a provider briefly down must not lock everyone out.
            log.warning("key set %s could not be loaded: %s", self._name, type(error).__name__)
            return
        self._keys, self._loaded_at = keys, now
        self.loads += 1


def _pick(keys: Iterable[VerifyingKey], kid: str | None) -> VerifyingKey | None:
    keys = list(keys)
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((key for key in keys if key.kid == kid), None)
