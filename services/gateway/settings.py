"""Settings of the gateway, read from GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshkit.metrics import MetricsSettings
from meshkit.settings import IdentitySettings, dev_unsubscribe_secret


class GatewaySettings(IdentitySettings, MetricsSettings):
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
