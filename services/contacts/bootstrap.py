"""Composition root of the contacts service: settings in, a wired gRPC server out."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import grpc
from grpc_health.v1.health import HealthServicer

from meshkit.db import Database, make_engine, migrate, migrate_url
from meshkit.grpc_client import open_channel
from meshkit.grpc_server import build_server, run_until_signalled
from meshkit.identity import Principal
from meshkit.metrics import serve_metrics
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.contacts import organisation
from services.contacts.clients import GrpcSuppressionList
from services.contacts.servicer import ContactsServicer
from services.contacts.settings import ContactsSettings

SERVICE_NAME = contacts_pb2.DESCRIPTOR.services_by_name["ContactsService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_contacts"


class App(NamedTuple):
    server: grpc.Server
    health: HealthServicer
    database: Database
    consent: grpc.Channel  # to consent's suppression list


def build(settings: ContactsSettings) -> App:
    """Wires database, token verifier and servicer into a server (nothing connects yet)."""
    database = Database(make_engine(settings.database_url))
    verifier = settings.verifier()
    # Imports ask consent as contacts itself (a `service` token), under a deadline.
    consent = open_channel(
        settings.consent_target,
        settings.service_identity("contacts").token,
        settings.rpc_timeout_seconds,
        settings.channel_credentials(),
    )
    servicer = ContactsServicer(
        database,
        GrpcSuppressionList(consent),
        settings.audit_key().hex(),
        settings.aggregate_audit_retention_days,
    )

    def register(server: grpc.Server) -> None:
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server(servicer, server)

    def check(method: str, principal: Principal) -> Principal:
        return organisation.check(database, method, principal)  # the tree, read fresh

    server, health = build_server(
        verifier, [(SERVICE_NAME, register)], settings.max_workers, principal_check=check
    )
    return App(server, health, database, consent)


def apply_migrations(database: Database) -> None:
    """Brings the contacts schema to the latest revision."""
    migrate(database.engine, MIGRATIONS, version_table=VERSION_TABLE)


def main() -> None:
    """`crm serve contacts`: migrate if configured, then serve until SIGTERM/SIGINT."""
    settings = ContactsSettings()  # type: ignore[call-arg]  # fields come from the environment
    app = build(settings)
    if settings.auto_migrate:
        apply_migrations(app.database)
    serve_metrics(settings.metrics_listen)
    run_until_signalled(
        app.server,
        app.health,
        settings.listen,
        settings.grace_seconds,
        on_stop=app.database.engine.dispose,
        credentials=settings.server_credentials(),
    )
    app.consent.close()


def migrate_only() -> None:
    """`crm migrate contacts`: apply migrations and exit."""
    migrate_url(ContactsSettings().database_url, MIGRATIONS, VERSION_TABLE)
