"""The composition root of the consent service: settings in, a ready gRPC server out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1.health import HealthServicer
from sqlalchemy import Engine

from meshkit.db import Database, make_engine, migrate, migrate_url
from meshkit.grpc_server import build_server, run_until_signalled
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from services.consent.servicer import ConsentServicer
from services.consent.settings import ConsentSettings

SERVICE_NAME = consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_consent"


@dataclass
class ConsentApp:
    """Everything `build` wired: the server, its health servicer and the database."""

    server: grpc.Server
    health: HealthServicer
    database: Database


def migrate_schema(engine: Engine) -> None:
    """Brings the consent schema to the latest migration."""
    migrate(engine, MIGRATIONS, version_table=VERSION_TABLE)


def build(settings: ConsentSettings, database: Database | None = None) -> ConsentApp:
    """Wires the server from settings; binds and connects nothing yet."""
    database = database or Database(make_engine(settings.database_url))
    verifier = settings.verifier()
    servicer = ConsentServicer(database)

    def register(server: grpc.Server) -> None:
        consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, server)

    server, health = build_server(verifier, [(SERVICE_NAME, register)], settings.max_workers)
    return ConsentApp(server, health, database)


def main() -> None:
    """`crm serve consent`: migrate if asked, then serve until SIGTERM or SIGINT."""
    settings = ConsentSettings()  # type: ignore[call-arg]
    app = build(settings)
    if settings.auto_migrate:
        migrate_schema(app.database.engine)
    try:
        run_until_signalled(app.server, app.health, settings.listen, settings.grace_seconds)
    finally:
        app.database.engine.dispose()  # after in-flight RPCs have drained


def migrate_only() -> None:
    """`crm migrate consent`: apply the migrations, then exit."""
    migrate_url(ConsentSettings().database_url, MIGRATIONS, VERSION_TABLE)
