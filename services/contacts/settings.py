"""Settings of the contacts service, read from CONTACTS_* environment variables."""

from __future__ import annotations

import hmac
from hashlib import sha256

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from meshkit import service_keys
from meshkit.metrics import MetricsSettings
from meshkit.settings import ServiceSettings, keys_folder, sqlite_url


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
    audit_secret: SecretStr | None = Field(
        None,
        description="Key of the aggregate auditor's contact hashes (the history names nobody "
        "without it); default: derived with HMAC-SHA-256 from this service's own private key.",
    )
    aggregate_audit_retention_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="Days a caller's published aggregate cells are kept for the query auditor "
        "(the differencing protection lasts as long as this history).",
    )

    aggregate_snapshot_seconds: float = Field(
        300.0,
        ge=0,
        description="Seconds an aggregate's pre-computed summaries (PostgreSQL) answer the same "
        "question again, unless the tree or a field policy changed; 0: always recomputed.",
    )
    aggregate_refresh_seconds: float = Field(
        120.0,
        gt=0,
        description="How often the leader recomputes the aggregate snapshots asked in the last "
        "week that are older than half their TTL (and drops those unasked for a week).",
    )
    aggregate_refresh_budget_seconds: float = Field(
        60.0,
        gt=0,
        description="Time one refresh run may spend; the snapshots left wait for the next run.",
    )
    aggregate_concurrency: int = Field(
        2,
        ge=1,
        le=64,
        description="Aggregate statements (PostgreSQL) one process runs at once; a request that "
        "waits 2 s for a free one is answered 503 (ask again), the refresher waits its turn.",
    )
    scheduler_sync_seconds: float = Field(
        5.0,
        gt=0,
        description="How often each replica takes or checks the leader lock of contacts' jobs "
        "(only the leader runs them).",
    )

    def audit_key(self) -> bytes:
        """The auditor's key: the configured secret, else one derived from the service key."""
        if self.audit_secret is not None and self.audit_secret.get_secret_value():
            return self.audit_secret.get_secret_value().encode()
        private_key = self.service_private_key_file or service_keys.private_key_file(
            keys_folder(), "contacts"
        )
        material = private_key.read_bytes()
        return hmac.new(material, b"crm-contacts/aggregate-audit/v1", sha256).digest()
