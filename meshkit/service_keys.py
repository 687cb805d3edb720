"""Each service's own key pair for its service tokens, and the JWKS every service trusts.

`make_service_keys(folder)` writes `service-<name>-private.pem` for each
service (once) and `service-keys.jwks.json`, the public half of each, with its
`kid` and the `service` it belongs to. A verifier accepts a token signed by one
of these keys only as that very service (meshkit.identity.TokenVerifier).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshkit.identity import key_id, keys_lock, write_private_key
from meshkit.jwks import public_jwk

SERVICE_NAMES = ("contacts", "consent", "campaigns", "gateway")
JWKS_FILE = "service-keys.jwks.json"


def private_key_file(folder: Path, name: str) -> Path:
    """Where `name`'s own private key lives in a keys folder."""
    return folder / f"service-{name}-private.pem"


def make_service_keys(folder: Path, names: Iterable[str] = SERVICE_NAMES) -> None:
    """Each service's private key (made once) and the JWKS of all of them, in `folder`."""
    names = tuple(names)
    with keys_lock(folder):
        for name in names:
            path = private_key_file(folder, name)
            if not path.exists():
                write_private_key(path, ec.generate_private_key(ec.SECP256R1()))
        document = json.dumps(service_jwks(folder, names), indent=2) + "\n"
        jwks = folder / JWKS_FILE
        # Derived from the private keys: written again only when a key changed.
        if not jwks.exists() or jwks.read_text() != document:
            partial = jwks.with_suffix(".tmp")
            partial.write_text(document)
            partial.replace(jwks)  # atomic: a verifier never reads half a file


def service_jwks(folder: Path, names: Iterable[str]) -> dict[str, Any]:
    """The public JWKS of the services' keys found in `folder`."""
    keys = []
    for name in names:
        private = serialization.load_pem_private_key(
            private_key_file(folder, name).read_bytes(), None
        )
        public = private.public_key()
        keys.append(public_jwk(public, key_id(public), service=name))
    return {"keys": keys}
