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

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshkit.identity import ServiceIdentity, TokenIssuer, TokenVerifier, generate_dev_keys
from meshkit.secret_files import SecretFileSettings
from meshkit.tls import TlsSettings


def crm_home() -> Path:
    """Folder for local state on embedded defaults: databases, keys, caught mail."""
    return Path(os.environ.get("CRM_HOME", ".crm")).resolve()


def dev_private_key() -> Path:
    return crm_home() / "keys" / "dev-private.pem"


def dev_public_key() -> Path:
    return crm_home() / "keys" / "dev-public.pem"


def sqlite_url(name: str) -> str:
    return f"sqlite:///{crm_home() / f'{name}.db'}"


class IdentitySettings(SecretFileSettings):
    """How tokens are verified and how this service signs its own."""

    jwt_issuer: str = Field("crm-mesh-dev", description="Expected `iss` of every token.")
    jwt_audience: str = Field("crm-mesh", description="Expected `aud` of every token.")
    jwt_public_key_file: Path | None = Field(
        default_factory=dev_public_key,
        description="PEM public key that verifies tokens (ignored when a JWKS URL is set).",
    )
    jwks_url: str | None = Field(
        None, description="JWKS URL that verifies tokens, instead of a key file."
    )
    service_private_key_file: Path = Field(
        default_factory=dev_private_key,
        description="PEM private key this service signs its own short-lived tokens with.",
    )

    def verifier(self) -> TokenVerifier:
        """The token verifier these settings describe."""
        return TokenVerifier(
            self.jwt_issuer,
            self.jwt_audience,
            public_key_file=self.jwt_public_key_file,
            jwks_url=self.jwks_url,
        )

    def service_identity(self, name: str) -> ServiceIdentity:
        """This service's own identity for outbound calls, signed with its private key."""
        issuer = TokenIssuer(self.service_private_key_file, self.jwt_issuer, self.jwt_audience)
        return ServiceIdentity(issuer, name)


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


def dev_secret(name: str) -> str:
    """A random secret kept in CRM_HOME/keys/<name>, made once (by whichever process is first)."""
    path = crm_home() / "keys" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".secret.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
    return path.read_text().strip()


def dev_receipt_private_key() -> Path:
    return crm_home() / "keys" / "receipt-private.pem"


def dev_receipt_public_key() -> Path:
    return crm_home() / "keys" / "receipt-public.pem"


def make_dev_keys() -> None:
    """Every development key and secret under CRM_HOME/keys, each made once.

    The token key pair, the consent receipts' key pair, the unsubscribe secret
    (campaigns, gateway, consent) and the suppression-list secret (consent).
    """
    generate_dev_keys(dev_private_key(), dev_public_key())
    generate_dev_keys(dev_receipt_private_key(), dev_receipt_public_key())
    dev_unsubscribe_secret()
    dev_secret("suppression-secret")
