"""Settings of the gateway, read from GATEWAY_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from meshkit.metrics import MetricsSettings
from meshkit.settings import IdentitySettings, dev_private_key, dev_secret, dev_unsubscribe_secret
from meshkit.tls import TlsClientSettings


class GatewaySettings(IdentitySettings, TlsClientSettings, MetricsSettings):
    """Where the gateway listens, which services it fronts, and the secrets it checks."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    listen: str = Field(default="127.0.0.1:8080", description="host:port the HTTP server binds.")
    contacts_target: str = Field(
        default="127.0.0.1:50051", description="host:port of the contacts gRPC service."
    )
    consent_target: str = Field(
        default="127.0.0.1:50052", description="host:port of the consent gRPC service."
    )
    campaigns_target: str = Field(
        default="127.0.0.1:50053", description="host:port of the campaigns gRPC service."
    )
    rpc_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of every gRPC call the gateway makes upstream."
    )
    unsubscribe_secret: str = Field(
        default_factory=dev_unsubscribe_secret,
        description="Secret shared with campaigns and consent that signs one-click unsubscribe "
        "links and the person links of mail (preference page).",
    )
    threads: int = Field(default=8, ge=1, description="Threads of the HTTP server (waitress).")
    import_max_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1,
        description="Largest contact import upload (bytes); a larger one is refused with 413.",
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=4096,
        description="Largest request head (request line and headers, bytes) the gateway "
        "accepts; a larger one is refused with 431 (waitress stops reading at eight times it).",
    )
    forwarded_hops: int = Field(
        default=0,
        ge=0,
        le=5,
        description="Reverse proxies in front of the gateway (an Ingress, a load balancer) whose "
        "X-Forwarded-For and X-Forwarded-Proto are trusted: per-IP limits then count the "
        "client, not the proxy. 0: the headers are ignored (a client could forge them).",
    )
    redis_url: str = Field(
        default="memory://",
        description="Redis holding idempotency records and rate-limit counters: "
        "redis://host:port/db, or redis+cluster://host1:port1,host2:port2 for a Redis Cluster; "
        "memory:// is an in-process fakeredis (one gateway process only).",
    )
    redis_key_prefix: str = Field(
        default="crm:gateway:", description="Prefix of every Redis key the gateway uses."
    )
    idempotency_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=1,
        description="How long the answer to a POST with an Idempotency-Key is kept and replayed.",
    )
    idempotency_lock_seconds: int = Field(
        default=120,
        ge=1,
        description="How long a POST with an Idempotency-Key holds its key while it runs (a "
        "retry meanwhile gets 409); longer than any request can last.",
    )
    rate_limit_per_minute: int = Field(
        default=1200,
        ge=0,
        description="Requests per caller (token subject and component) per fixed minute; "
        "0 turns per-caller limits off.",
    )
    rate_limit_writes_per_minute: int = Field(
        default=600,
        ge=0,
        description="Of those, writes (any method but GET) per caller per minute; 0: no "
        "separate write budget.",
    )
    rate_limit_public_per_minute: int = Field(
        default=300,
        ge=0,
        description="Requests per client IP per minute on the public pages (unsubscribe, "
        "preferences, receipts); 0 turns it off. Health and the OpenAPI document are not limited.",
    )
    console_secret: str = Field(
        default_factory=lambda: dev_secret("console-secret"),
        description="Secret signing the web console's session cookies (at least 32 characters "
        "in production; every gateway replica needs the same one).",
    )
    console_secure_cookies: bool = Field(
        default=True,
        description="Mark the console's session cookie `Secure` (browsers still accept it on "
        "http://localhost and http://127.0.0.1).",
    )
    console_session_hours: float = Field(
        default=8.0, gt=0, description="How long a console session lasts before signing in again."
    )
    console_dev_login: bool = Field(
        default=False,
        description="Development sign-in to the console (mints a token for a chosen component "
        "and role with the development key). Embedded defaults only: `crm up` turns it on; "
        "refused when development tokens are off (`JWT_PUBLIC_KEY_FILE` empty).",
    )
    console_dev_private_key_file: Path = Field(
        default_factory=dev_private_key,
        description="Private development key the development sign-in mints tokens with.",
    )
    console_oidc_issuer: str = Field(
        default="",
        description="Issuer the console signs users in with (authorization code with PKCE); "
        "one of OIDC_ISSUERS. Empty: no single sign-on button.",
    )
    console_oidc_client_id: str = Field(
        default="crm-console", description="Client id of the console at the identity provider."
    )
    console_oidc_client_secret: str = Field(
        default="",
        description="Client secret, for a confidential client (empty: a public client, PKCE only).",
    )
    console_oidc_scopes: str = Field(
        default="openid email profile", description="Scopes the console asks the provider for."
    )
    console_public_url: str = Field(
        default="",
        description="Public base URL of the gateway (https://crm.example), for the OIDC "
        "redirect URI behind a proxy; empty: the address the request came to.",
    )

    @model_validator(mode="after")
    def _console_sign_in(self) -> GatewaySettings:
        if self.console_dev_login and self.jwt_public_key_file is None:
            raise ValueError(
                "console_dev_login needs development tokens (JWT_PUBLIC_KEY_FILE is empty)"
            )
        if self.console_oidc_issuer and self.console_oidc_issuer not in {
            issuer.issuer for issuer in self.oidc_issuers
        }:
            raise ValueError("console_oidc_issuer must be one of oidc_issuers")
        return self
