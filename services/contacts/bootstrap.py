"""Composition root of the contacts service: settings in, a wired gRPC server out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import grpc
from grpc_health.v1.health import HealthServicer

from meshkit.db import Database, make_engine, migrate, migrate_url
from meshkit.grpc_client import open_channel
from meshkit.grpc_server import build_server, run_until_signalled
from meshkit.identity import Principal
from meshkit.metrics import serve_metrics
from meshkit.scheduling import LeaderScheduler, leader_for
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.contacts import aggregate_snapshots, organisation
from services.contacts.clients import GrpcSuppressionList
from services.contacts.servicer import ContactsServicer
from services.contacts.settings import ContactsSettings

SERVICE_NAME = contacts_pb2.DESCRIPTOR.services_by_name["ContactsService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_contacts"
LOCK_NAME = "crm-contacts-scheduler"
REFRESH_JOB = "aggregate-snapshots"


class App(NamedTuple):
    server: grpc.Server
    health: HealthServicer
    database: Database
    consent: grpc.Channel  # to consent's suppression list
    jobs: LeaderScheduler | None = None  # the aggregate snapshots' refresher (PostgreSQL)

    def stop_side_tasks(self) -> None:
        """Stops the scheduler (its lock goes with it), then closes the database."""
        if self.jobs is not None:
            self.jobs.stop()
        self.database.engine.dispose()


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
    secret = settings.audit_key().hex()
    # Snapshots and their refresher on PostgreSQL only: the embedded SQLite run computes afresh.
    snapshots = database.engine.dialect.name == "postgresql"
    # The aggregate statements of this process, requests' and the refresher's together.
    slots = aggregate_snapshots.StatementSlots(settings.aggregate_concurrency)
    servicer = ContactsServicer(
        database,
        GrpcSuppressionList(consent),
        secret,
        settings.aggregate_audit_retention_days,
        settings.aggregate_snapshot_seconds if snapshots else None,
        slots,
    )

    def register(server: grpc.Server) -> None:
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server(servicer, server)

    def check(method: str, principal: Principal) -> Principal:
        return organisation.check(database, method, principal)  # the tree, read fresh

    server, health = build_server(
        verifier, [(SERVICE_NAME, register)], settings.max_workers, principal_check=check
    )
    jobs = _jobs(settings, database, secret, slots) if snapshots else None
    return App(server, health, database, consent, jobs)


def _jobs(
    settings: ContactsSettings,
    database: Database,
    secret: str,
    slots: aggregate_snapshots.StatementSlots,
) -> LeaderScheduler:
    """The leader-only refresher of the aggregate snapshots (started with the server)."""
    runner = LeaderScheduler(
        leader_for(database.engine, LOCK_NAME), sync_seconds=settings.scheduler_sync_seconds
    )

    def refresh() -> None:
        aggregate_snapshots.refresh(
            database,
            secret,
            settings.aggregate_snapshot_seconds,
            settings.aggregate_refresh_budget_seconds,
            slots=slots,
        )

    runner.add_periodic(
        refresh,
        job_id=REFRESH_JOB,
        seconds=settings.aggregate_refresh_seconds,
        misfire_grace_seconds=max(1, int(settings.aggregate_refresh_seconds)),
    )
    return runner


def apply_migrations(database: Database) -> None:
    """Brings the contacts schema to the latest revision."""
    migrate(database.engine, MIGRATIONS, version_table=VERSION_TABLE)


def main() -> None:
    """`crm serve contacts`: migrate if configured, then serve until SIGTERM/SIGINT."""
    settings = ContactsSettings()  # type: ignore[call-arg]  # fields come from the environment
    # APScheduler logs every run of the jobs; keep its warnings and errors only.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    app = build(settings)
    if settings.auto_migrate:
        apply_migrations(app.database)
    serve_metrics(settings.metrics_listen)
    if app.jobs is not None:
        app.jobs.start()
    run_until_signalled(
        app.server,
        app.health,
        settings.listen,
        settings.grace_seconds,
        on_stop=app.stop_side_tasks,
        credentials=settings.server_credentials(),
    )
    app.consent.close()


def migrate_only() -> None:
    """`crm migrate contacts`: apply migrations and exit."""
    migrate_url(ContactsSettings().database_url, MIGRATIONS, VERSION_TABLE)
