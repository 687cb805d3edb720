"""Settings of the campaigns service, read from CAMPAIGNS_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_serializer, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from meshkit.addresses import is_valid_address
from meshkit.metrics import MetricsSettings
from meshkit.roles import Role
from meshkit.settings import ServiceSettings, dev_unsubscribe_secret, sqlite_url


def _default_database_url() -> str:
    return sqlite_url("campaigns")


class CampaignsSettings(ServiceSettings, MetricsSettings):
    """Where campaigns listens, stores its ledger, finds its peers, Redis and the SMTP relay."""

    model_config = SettingsConfigDict(env_prefix="CAMPAIGNS_")

    listen: str = Field("127.0.0.1:50053", description="host:port the gRPC server binds.")
    database_url: str = Field(
        default_factory=_default_database_url,
        description="SQLAlchemy URL of the campaigns database (SQLite file under CRM_HOME).",
    )
    contacts_target: str = Field(
        "127.0.0.1:50051", description="host:port of crm.contacts.v1.ContactsService."
    )
    consent_target: str = Field(
        "127.0.0.1:50052", description="host:port of crm.consent.v1.ConsentService."
    )
    rpc_timeout_seconds: float = Field(
        10.0, gt=0, description="Deadline of every outbound gRPC call, in seconds."
    )
    redis_url: str = Field(
        "memory://",
        description="Redis holding pressure counters: redis://host:port/db, or "
        "redis+cluster://host1:port1,host2:port2 for a Redis Cluster; memory:// is an "
        "in-process fakeredis.",
    )
    redis_key_prefix: str = Field(
        "crm:", description="Prefix of every Redis key this service uses."
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP relay host; the only way mail leaves.")
    smtp_port: int = Field(8025, description="SMTP relay port.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str | None = Field(None, description="SMTP login, when the relay needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password, with the login.")
    smtp_timeout_seconds: float = Field(
        30.0, gt=0, description="Socket timeout of the SMTP connection, in seconds."
    )
    mail_from: str = Field(
        "Communication <no-reply@crm.localhost>", description="From header of every mail."
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public URL of the gateway; unsubscribe and preference links point under "
        "it (https, except on this machine).",
    )
    unsubscribe_mailto: str = Field(
        "unsubscribe@crm.localhost", description="Address of the mailto: List-Unsubscribe."
    )
    unsubscribe_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(dev_unsubscribe_secret()),
        description="Secret shared with the gateway that signs unsubscribe tokens and the "
        "preference links at the foot of every campaign mail.",
    )
    pressure_max_per_window: int = Field(
        3, ge=1, description="Most mails one contact may receive from all components per window."
    )
    pressure_window_seconds: int = Field(
        604800, ge=1, description="Length of the rolling pressure window, in seconds (7 days)."
    )
    batch_size: int = Field(
        200, ge=1, le=1000, description="Recipients claimed and checked together (one RPC each)."
    )
    dispatch_threads: int = Field(2, ge=0, description="Dispatch worker threads in this process.")
    poll_seconds: float = Field(
        0.2, gt=0, description="Idle wait of a dispatch worker that found nothing to claim."
    )
    claim_lease_seconds: int = Field(
        300, ge=1, description="How long a claimed batch stays with its worker before reclaim."
    )
    retry_delay_seconds: int = Field(
        30, ge=0, description="Wait before a recipient whose send failed temporarily is retried."
    )
    preview_count_max: int = Field(
        2000,
        ge=0,
        description="Largest audience the first page of a preview counts while the caller waits; "
        "a larger one is counted in the background (GET /v1/campaigns/{id}/reach).",
    )
    scheduler_enabled: bool = Field(True, description="Run the scheduler of scheduled campaigns.")
    scheduler_sync_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the scheduler re-reads scheduled campaigns and the leader lock.",
    )
    misfire_grace_seconds: int = Field(
        300, ge=1, description="How late a scheduled start may still run (then: next sync)."
    )

    transactional_roles: Annotated[frozenset[Role], NoDecode] = Field(
        frozenset(),
        description="Roles (comma-separated) whose holders may send transactional mail, besides "
        "the consent service; empty: services only.",
    )

    smtp_pool_size: int = Field(
        2,
        ge=1,
        description="SMTP connections this process keeps open and reuses across batches (dispatch "
        "workers wait for a free one); transactional mail has a pool of the same size.",
    )
    send_group_size: int = Field(
        20,
        ge=1,
        le=1000,
        description="Mails whose in-flight marks share one commit before they are sent, and "
        "whose outcomes share one after: a worker killed mid-group leaves at most this many "
        "recipients unconfirmed.",
    )
    smtp_max_attempts: int = Field(
        5,
        ge=1,
        description="Temporary SMTP refusals (4xx) of one recipient before it fails for good "
        "(smtp_failed, rule smtp:<code>:retries_exhausted).",
    )
    smtp_retry_max_seconds: int = Field(
        3600,
        ge=0,
        description="Longest wait before a temporarily refused recipient is retried; the wait "
        "doubles from CAMPAIGNS_RETRY_DELAY_SECONDS at each refusal, with jitter, up to this.",
    )
    dkim_selector: str | None = Field(
        None, description="DKIM selector (s=); with a key file, every mail is DKIM-signed."
    )
    dkim_domain: str | None = Field(
        None, description="DKIM signing domain (d=); default: the domain of the From address."
    )
    dkim_private_key_file: Path | None = Field(
        None, description="PEM file of the DKIM private key (RSA); none: mail is not signed."
    )

    pressure_attribution_days: int = Field(
        7,
        ge=1,
        le=90,
        description="Pressure dashboard: a withdrawal or objection counts against the last "
        "marketing mail sent to the person within this many days before it (none: not counted).",
    )
    pressure_rollup_seconds: float = Field(
        300.0,
        gt=0,
        description="How often the leader brings the pressure dashboard's pre-aggregates up to "
        "date (consent's new events, then the open and changed months).",
    )
    monthly_report_to: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Addresses (comma-separated) that get the monthly pressure report, the 1st "
        "of each month at 07:00 Europe/Paris, as transactional mail; empty: no report.",
    )

    @field_validator("monthly_report_to", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(a.strip() for a in value.split(",") if a.strip())
        return value

    @field_validator("monthly_report_to")
    @classmethod
    def _valid_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if not is_valid_address(a)]
        if bad:
            raise ValueError(f"{len(bad)} address(es) are not valid email addresses")
        return value

    @field_serializer("monthly_report_to")
    def _addresses_as_written(self, addresses: tuple[str, ...]) -> str:
        return ",".join(addresses)

    @field_validator("transactional_roles", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(r.strip() for r in value.split(",") if r.strip())
        return value

    @field_serializer("transactional_roles")
    def _as_written(self, roles: frozenset[Role]) -> str:
        return ",".join(sorted(roles))

    @field_validator("public_base_url")
    @classmethod
    def _https_unless_local(cls, url: str) -> str:
        # Mailbox providers honour one-click unsubscribe (RFC 8058) only over https.
        parts = urlsplit(url)
        local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("must be an https URL (http only for localhost)")
        return url.rstrip("/")
