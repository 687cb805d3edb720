"""Settings of the contacts service, read from CONTACTS_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshkit.metrics import MetricsSettings
from meshkit.settings import ServiceSettings, sqlite_url


class ContactsSettings(ServiceSettings, MetricsSettings):
    """Where the contacts service listens and where its records live."""

    model_config = SettingsConfigDict(env_prefix="CONTACTS_")

    listen: str = Field("127.0.0.1:50051", description="host:port the gRPC server binds.")
    database_url: str = Field(
        default_factory=lambda: sqlite_url("contacts"),
        description="SQLAlchemy URL of the contacts database (default: a SQLite file in CRM_HOME).",
    )
    consent_target: str = Field(
        "127.0.0.1:50052",
        description="host:port of crm.consent.v1.ConsentService, whose suppression list "
        "every import checks.",
    )
    rpc_timeout_seconds: float = Field(
        10.0, gt=0, description="Deadline of every outbound gRPC call (to consent), in seconds."
    )
