"""Settings of the consent service, read from CONSENT_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshkit.settings import ServiceSettings, sqlite_url


class ConsentSettings(ServiceSettings):
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
    rpc_timeout_seconds: float = Field(
        5.0, gt=0, description="Deadline of every outbound gRPC call (to contacts), in seconds."
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
