"""The composition root of the consent service: settings in, a ready gRPC server out."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

import grpc
from grpc_health.v1.health import HealthServicer
from sqlalchemy import Engine

from meshkit.db import Database, make_engine, migrate, migrate_url
from meshkit.grpc_client import open_channel
from meshkit.grpc_server import build_server, run_until_signalled
from meshkit.links import PersonLinks
from meshkit.metrics import serve_metrics
from meshkit.organisation import Organisation, grpc_fetch
from meshkit.scheduling import LeaderScheduler, leader_for
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from services.consent import inbound, outbox_job, privacy_requests, proofs, service
from services.consent.clients import ContactDirectory, GrpcContacts
from services.consent.jobs import ConsentJobs
from services.consent.mailer import GrpcMailer
from services.consent.outbox import Backoff as OutboxBackoff
from services.consent.outbox_job import Delivery
from services.consent.privacy_clients import (
    CampaignsPrivacy,
    GrpcCampaignsPrivacy,
    GrpcContactsPrivacy,
    LocalSuppression,
    SuppressionList,
)
from services.consent.privacy_policy import Backoff
from services.consent.receipts import Controller, Receipts, ReceiptSigner
from services.consent.servicer import ConsentServicer
from services.consent.settings import ConsentSettings

SERVICE_NAME = consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_consent"


@dataclass
class ConsentApp:
    """Everything `build` wired: the server, its health servicer, the database, what to close."""

    server: grpc.Server
    health: HealthServicer
    database: Database
    closers: list[Callable[[], None]] = field(default_factory=list)
    inbound: inbound.Endpoint | None = None  # the unsubscribe-mail endpoint, when configured
    jobs: ConsentJobs | None = None  # the outbox, the retention run, the privacy requests

    def stop_side_tasks(self) -> None:
        """Stops the unsubscribe-mail endpoint and the jobs (at shutdown)."""
        if self.inbound is not None:
            self.inbound.stop()
        if self.jobs is not None:
            self.jobs.stop()

    def close(self) -> None:
        """Closes the channel to contacts and the database (after in-flight RPCs drained)."""
        for close in self.closers:
            close()


def migrate_schema(engine: Engine) -> None:
    """Brings the consent schema to the latest migration."""
    migrate(engine, MIGRATIONS, version_table=VERSION_TABLE)


def build(
    settings: ConsentSettings,
    database: Database | None = None,
    contacts: ContactDirectory | None = None,
    organisation: Organisation | None = None,
    campaigns: CampaignsPrivacy | None = None,
    suppression: SuppressionList | None = None,
) -> ConsentApp:
    """Wires the server from settings; binds and connects nothing yet."""
    database = database or Database(make_engine(settings.database_url))
    closers: list[Callable[[], None]] = []
    # Consent asks contacts as itself (a `service` token), under a deadline.
    channel = open_channel(
        settings.contacts_target,
        settings.service_identity("consent").token,
        settings.rpc_timeout_seconds,
        settings.channel_credentials(),
    )
    closers.append(channel.close)
    if contacts is None:
        contacts = GrpcContacts(channel)
    if organisation is None:
        # Every caller's token is checked against the organisation tree contacts holds.
        organisation = Organisation(grpc_fetch(channel))
    closers.append(database.engine.dispose)
    verifier = settings.verifier()
    secret = settings.suppression_secret.get_secret_value().encode()
    # Campaigns is asked as consent too: its part of privacy requests (and, later, mail).
    campaigns_channel = open_channel(
        settings.campaigns_target,
        settings.service_identity("consent").token,
        settings.rpc_timeout_seconds,
        settings.channel_credentials(),
    )
    closers.append(campaigns_channel.close)
    parts = privacy_requests.Parts(
        directory=contacts,
        contacts=GrpcContactsPrivacy(channel),
        campaigns=campaigns or GrpcCampaignsPrivacy(campaigns_channel),
        suppression=suppression or LocalSuppression(database, secret, service.utc_now),
        backoff=Backoff(
            timedelta(seconds=settings.privacy_retry_seconds),
            timedelta(seconds=settings.privacy_retry_max_seconds),
        ),
    )
    delivery = Delivery(
        mailer=GrpcMailer(campaigns_channel),
        contacts=parts.contacts,
        directory=contacts,
        links=PersonLinks(settings.unsubscribe_secret.get_secret_value()),
        public_base_url=settings.public_base_url,
        suppression_secret=secret,
        backoff=OutboxBackoff(
            timedelta(seconds=settings.outbox_retry_seconds),
            timedelta(seconds=settings.outbox_retry_max_seconds),
        ),
    )
    jobs = ConsentJobs(
        LeaderScheduler(
            leader_for(database.engine, "crm-consent-scheduler"),
            sync_seconds=settings.scheduler_sync_seconds,
        ),
        partial(outbox_job.deliver_due, database, delivery, service.utc_now),
        partial(outbox_job.run_retention, database, service.utc_now, _replica_name()),
        partial(privacy_requests.advance_open_requests, database, parts),
        outbox_seconds=settings.outbox_seconds,
        retention_hour=settings.retention_hour,
        retention_misfire_seconds=settings.retention_misfire_grace_seconds,
        privacy_seconds=settings.privacy_job_seconds,
        privacy_misfire_seconds=settings.privacy_misfire_grace_seconds,
    )
    servicer = ConsentServicer(
        database,
        contacts,
        suppression_secret=secret,
        receipts=Receipts(ReceiptSigner(settings.receipt_private_key_file), _controller(settings)),
        privacy=parts,
        after_commit=jobs.kick,
    )

    def register(server: grpc.Server) -> None:
        consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, server)

    server, health = build_server(
        verifier,
        [(SERVICE_NAME, register)],
        settings.max_workers,
        principal_check=organisation.check,
    )
    inbound_endpoint = _inbound(settings, database, contacts)
    return ConsentApp(server, health, database, closers, inbound_endpoint, jobs)


def _replica_name() -> str:
    """Who ran a job, in consent_job_runs: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _controller(settings: ConsentSettings) -> Controller:
    return Controller(
        name=settings.receipt_controller,
        contact=settings.receipt_controller_contact,
        email=settings.receipt_controller_email,
        phone=settings.receipt_controller_phone,
        address=settings.receipt_controller_address,
        policy_url=settings.receipt_policy_url,
    )


def _inbound(
    settings: ConsentSettings, database: Database, contacts: ContactDirectory
) -> inbound.Endpoint | None:
    """The unsubscribe-mail endpoint; None when CONSENT_INBOUND_LISTEN is empty."""
    if not settings.inbound_listen:
        return None
    tokens = UnsubscribeTokens(settings.unsubscribe_secret.get_secret_value())

    def withdraw(link: UnsubscribeRequest) -> object:
        return proofs.withdraw_by_mail(database, contacts, link)

    handler = inbound.UnsubscribeMailHandler(settings.inbound_address, tokens, withdraw)
    return inbound.Endpoint(settings.inbound_listen, handler, settings.inbound_max_bytes)


def main() -> None:
    """`crm serve consent`: migrate if asked, then serve until SIGTERM or SIGINT."""
    settings = ConsentSettings()  # type: ignore[call-arg]
    # APScheduler logs every run of the jobs; keep its warnings and errors only.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    app = build(settings)
    if settings.auto_migrate:
        migrate_schema(app.database.engine)
    serve_metrics(settings.metrics_listen)
    if app.inbound is not None:
        app.inbound.start()  # a taken port ends the process here, with one line
    if app.jobs is not None:
        app.jobs.start()  # owed mail and open privacy requests survive restarts: read again
    try:
        run_until_signalled(
            app.server,
            app.health,
            settings.listen,
            settings.grace_seconds,
            on_stop=app.stop_side_tasks,
            credentials=settings.server_credentials(),
        )
    finally:
        app.close()  # after in-flight RPCs have drained


def migrate_only() -> None:
    """`crm migrate consent`: apply the migrations, then exit."""
    migrate_url(ConsentSettings().database_url, MIGRATIONS, VERSION_TABLE)
