"""Settings of the consent service, read from CONSENT_* environment variables."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from meshkit.metrics import MetricsSettings
from meshkit.settings import (
    ServiceSettings,
    dev_receipt_private_key,
    dev_secret,
    dev_unsubscribe_secret,
    sqlite_url,
)


class ConsentSettings(ServiceSettings, MetricsSettings):
    """Where the consent service listens, where its events live, which tokens it trusts."""

    model_config = SettingsConfigDict(env_prefix="CONSENT_")

    listen: str = Field("127.0.0.1:50052", description="host:port the gRPC server binds.")
    database_url: str = Field(
        default_factory=lambda: sqlite_url("consent"),
        description="SQLAlchemy URL of the consent events database (SQLite file by default).",
    )
    contacts_target: str = Field(
        "127.0.0.1:50051",
        description="host:port of crm.contacts.v1.ContactsService, asked whether a contact exists.",
    )
    campaigns_target: str = Field(
        "127.0.0.1:50053",
        description="host:port of crm.campaigns.v1.CampaignsService: confirmation and "
        "revalidation mail, and its part of privacy requests.",
    )
    rpc_timeout_seconds: float = Field(
        5.0, gt=0, description="Deadline of every outbound gRPC call (to contacts), in seconds."
    )
    suppression_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(dev_secret("suppression-secret")),
        description="Key of the suppression list's HMAC-SHA256 address hashes; never change it "
        "once addresses are listed (they would no longer match).",
    )
    receipt_private_key_file: Path = Field(
        default_factory=dev_receipt_private_key,
        description="PEM private key (EC P-256) that signs consent receipts (JWS, ES256).",
    )
    receipt_controller: str = Field(
        "Université (groupement)",
        description="The data controller named in consent receipts: the grouping.",
    )
    receipt_controller_contact: str = Field(
        "Délégué à la protection des données",
        description="Who to contact at the controller, in consent receipts.",
    )
    receipt_controller_email: str = Field(
        "dpo@crm.localhost", description="The controller's data-protection address, in receipts."
    )
    receipt_controller_phone: str = Field(
        "", description="The controller's data-protection phone, in receipts (may stay empty)."
    )
    receipt_controller_address: str = Field(
        "", description="The controller's postal address, in receipts (may stay empty)."
    )
    receipt_policy_url: str = Field(
        "http://127.0.0.1:8080/privacy", description="URL of the privacy policy, in receipts."
    )
    inbound_listen: str = Field(
        "",
        description="host:port of the inbound SMTP endpoint that takes unsubscribe mail "
        "(the mailto: of List-Unsubscribe); empty: not started.",
    )
    inbound_address: str = Field(
        "unsubscribe@crm.localhost",
        description="The one recipient the inbound endpoint takes: CAMPAIGNS_UNSUBSCRIBE_MAILTO.",
    )
    inbound_max_bytes: int = Field(
        65536, ge=1024, description="Largest unsubscribe mail accepted, in bytes."
    )
    unsubscribe_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(dev_unsubscribe_secret()),
        description="Secret shared with campaigns and the gateway that signs unsubscribe tokens.",
    )
    privacy_job_seconds: float = Field(
        30.0,
        gt=0,
        description="How often the privacy-request job looks for due steps (and once at start).",
    )
    privacy_misfire_grace_seconds: int = Field(
        60, ge=1, description="How late a run of the privacy-request job may still start."
    )
    privacy_retry_seconds: float = Field(
        30.0,
        gt=0,
        description="Wait before a privacy-request step whose service did not answer is "
        "tried again; doubles on each silence.",
    )
    privacy_retry_max_seconds: float = Field(
        3600.0, gt=0, description="The longest wait between two tries of one step."
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public URL of the gateway; the links of confirmation and revalidation "
        "mails point under it (https, except on this machine).",
    )
    outbox_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the outbox job sends what is due (confirmation and "
        "revalidation mails, suppression changes); a write also asks for a pass at once.",
    )
    outbox_retry_seconds: float = Field(
        10.0,
        gt=0,
        description="Wait before an outbox entry whose service did not answer is tried "
        "again; doubles on each silence.",
    )
    outbox_retry_max_seconds: float = Field(
        600.0, gt=0, description="The longest wait between two tries of one outbox entry."
    )
    retention_hour: int = Field(
        3,
        ge=0,
        le=23,
        description="Hour (UTC) of the daily retention run: revalidation mails a month "
        "before a consent's end, `expired` events at its end.",
    )
    retention_misfire_grace_seconds: int = Field(
        6 * 3600, ge=1, description="How late the daily retention run may still start."
    )
    scheduler_sync_seconds: float = Field(
        5.0,
        gt=0,
        description="How often each replica takes or checks the leader lock of consent's "
        "jobs (only the leader runs them).",
    )

    @field_validator("public_base_url")
    @classmethod
    def _https_unless_local(cls, url: str) -> str:
        # A link in a mail travels the internet: https, except on this machine.
        parts = urlsplit(url)
        local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("must be an https URL (http only for localhost)")
        return url.rstrip("/")
