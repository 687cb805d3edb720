"""Typed settings shared by every service, read from prefixed environment variables.

Each service subclasses `ServiceSettings` with its own prefix (CONTACTS_,
CONSENT_, CAMPAIGNS_, GATEWAY_). Defaults run the whole mesh on one machine
with embedded stores under CRM_HOME (default ./.crm).
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from meshkit import service_keys
from meshkit.identity import ServiceIdentity, TokenIssuer, TokenVerifier, generate_dev_keys
from meshkit.oidc import OidcIssuer
from meshkit.secret_files import SecretFileSettings
from meshkit.tls import TlsSettings


def crm_home() -> Path:
    """Folder for local state on embedded defaults: databases, keys, caught mail."""
    return Path(os.environ.get("CRM_HOME", ".crm")).resolve()


def keys_folder() -> Path:
    """Where `crm keys` and embedded defaults keep keys and secrets: CRM_HOME/keys."""
    return crm_home() / "keys"


def dev_private_key() -> Path:
    return keys_folder() / "dev-private.pem"


def dev_public_key() -> Path:
    return keys_folder() / "dev-public.pem"


def dev_service_keys() -> Path:
    return keys_folder() / service_keys.JWKS_FILE


def sqlite_url(name: str) -> str:
    return f"sqlite:///{crm_home() / f'{name}.db'}"


class IdentitySettings(SecretFileSettings):
    """How tokens are verified and how this service signs its own."""

    jwt_issuer: str = Field(
        "crm-mesh-dev", description="`iss` of development tokens and of the services' own tokens."
    )
    jwt_audience: str = Field(
        "crm-mesh", description="`aud` of development tokens and of the services' own tokens."
    )
    jwt_public_key_file: Path | None = Field(
        default_factory=dev_public_key,
        description="PEM public key of development tokens (`crm token`); empty: none accepted.",
    )
    oidc_issuers: list[OidcIssuer] = Field(
        default_factory=list,
        description="JSON list of trusted OIDC providers: `issuer`, `audience`, optional "
        "`jwks_uri` and `claims` mapping (see docs/identity.md).",
    )
    service_keys_file: Path = Field(
        default_factory=dev_service_keys,
        description="JWKS of the services' own public keys; verifies service tokens.",
    )
    service_private_key_file: Path | None = Field(
        None,
        description="PEM private key this service signs its own service tokens with; "
        "default `$CRM_HOME/keys/service-<name>-private.pem`.",
    )

    @field_validator("jwt_public_key_file", "service_private_key_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def verifier(self) -> TokenVerifier:
        """The token verifier these settings describe."""
        return TokenVerifier(
            self.jwt_issuer,
            self.jwt_audience,
            public_key_file=self.jwt_public_key_file,
            service_keys_file=self.service_keys_file,
            oidc_issuers=self.oidc_issuers,
        )

    def service_identity(self, name: str) -> ServiceIdentity:
        """This service's own identity for outbound calls, signed with its own private key."""
        key = self.service_private_key_file or service_keys.private_key_file(keys_folder(), name)
        issuer = TokenIssuer(key, self.jwt_issuer, self.jwt_audience)
        return ServiceIdentity(issuer, name)


# The identity settings naming key files: when one is set, the keys are deployed, not made.
KEY_SETTINGS = ("JWT_PUBLIC_KEY_FILE", "SERVICE_KEYS_FILE", "SERVICE_PRIVATE_KEY_FILE")


class ServiceSettings(IdentitySettings, TlsSettings):
    """Settings of a gRPC service: where it listens and where its data lives."""

    listen: str = Field(description="host:port the gRPC server binds.")
    database_url: str = Field(description="SQLAlchemy URL of this service's own database.")
    auto_migrate: bool = Field(True, description="Apply Alembic migrations at start-up.")
    max_workers: int = Field(16, description="Threads serving RPCs.")
    grace_seconds: float = Field(5.0, description="Time in-flight RPCs get to finish on shutdown.")


class LogSettings(SecretFileSettings):
    """What every process of the mesh logs (CRM_LOG_*, the same for all services)."""

    model_config = SettingsConfigDict(env_prefix="CRM_LOG_")

    level: str = Field("INFO", description="Level of the mesh's own log lines.")
    third_party: bool = Field(
        False, description="Also show the INFO lines of libraries (alembic, aiosmtpd, waitress...)."
    )
    format: Literal["text", "json"] = Field(
        "text",
        description="`text`: one readable line per event; `json`: one JSON object per line "
        "(time, level, service, logger, message, request_id, exception) for a log collector.",
    )


def dev_unsubscribe_secret() -> str:
    """A random secret kept under CRM_HOME, so local runs need no configuration."""
    return dev_secret("unsubscribe-secret")


def dev_secret(name: str, folder: Path | None = None) -> str:
    """A random secret kept in <folder>/<name> (default CRM_HOME/keys), made once (by whichever
    process is first)."""
    path = (folder or keys_folder()) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".secret.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
    return path.read_text().strip()


def dev_receipt_private_key() -> Path:
    return keys_folder() / "receipt-private.pem"


def dev_receipt_public_key() -> Path:
    return keys_folder() / "receipt-public.pem"


def make_dev_keys(folder: Path | None = None, *, token_keys: bool = True) -> None:
    """Every key and secret in `folder` (default CRM_HOME/keys), each made once.

    The development token key pair (only `crm token` reads its private half), each
    service's own key and the JWKS of their public halves (unless not `token_keys`),
    the consent receipts' key pair, the unsubscribe secret (campaigns, gateway, consent),
    the suppression-list secret (consent) and the console's session secret (gateway).
    """
    folder = folder or keys_folder()
    if token_keys:
        generate_dev_keys(folder / "dev-private.pem", folder / "dev-public.pem")
        service_keys.make_service_keys(folder)
    generate_dev_keys(folder / "receipt-private.pem", folder / "receipt-public.pem")
    dev_secret("unsubscribe-secret", folder)
    dev_secret("suppression-secret", folder)
    dev_secret("console-secret", folder)
