"""Composition root of campaigns: builds everything from settings; nothing connects at import."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from apscheduler.triggers.cron import CronTrigger
from grpc_health.v1.health import HealthServicer
from sqlalchemy import Engine

from meshkit.db import Database, make_engine, migrate, migrate_url
from meshkit.grpc_client import open_channel
from meshkit.grpc_server import build_server, run_until_signalled
from meshkit.links import PersonLinks
from meshkit.metrics import serve_metrics
from meshkit.organisation import Organisation, grpc_fetch
from meshkit.redis_url import connect_redis
from meshkit.scheduling import leader_for
from meshkit.unsubscribe import UnsubscribeTokens
from services.campaigns.clients import (
    ConsentGate,
    Directory,
    GrpcConsentGate,
    GrpcDirectory,
    GrpcPurposeCatalogue,
    PurposeCatalogue,
)
from services.campaigns.dispatch import Dispatcher, DispatchLimits
from services.campaigns.gate import Gate
from services.campaigns.interactions import Interactions
from services.campaigns.interactions_servicer import SERVICE_NAME as INTERACTIONS_NAME
from services.campaigns.interactions_servicer import InteractionsServicer
from services.campaigns.interactions_servicer import register as register_interactions
from services.campaigns.ledger import Ledger
from services.campaigns.merges import ContactMerges
from services.campaigns.message import Letterhead, MailFactory
from services.campaigns.metrics import register_backlog
from services.campaigns.monthly_report import PARIS, MonthlyReports
from services.campaigns.policy_servicer import SERVICE_NAME as POLICY_SERVICE_NAME
from services.campaigns.policy_servicer import PressurePolicyServicer
from services.campaigns.policy_servicer import register as register_policy
from services.campaigns.policy_store import PolicyStore
from services.campaigns.pressure import PressureCounters
from services.campaigns.pressure_dashboard import (
    DisclosureRulesSource,
    PressureDashboards,
    grpc_rules,
)
from services.campaigns.pressure_feed import GrpcEventFeed
from services.campaigns.pressure_policy import Counted, default_policy
from services.campaigns.pressure_rollup import PressureRollups
from services.campaigns.pressure_status import PressureSimulations, PressureStatus
from services.campaigns.preview import Previews
from services.campaigns.privacy import ContactPrivacy
from services.campaigns.reach import Reaches
from services.campaigns.scheduler import LOCK_NAME, CampaignScheduler
from services.campaigns.service import CampaignsService
from services.campaigns.servicer import SERVICE_NAME, CampaignsServicer, register
from services.campaigns.settings import CampaignsSettings
from services.campaigns.signing import DkimSigner
from services.campaigns.smtp import SmtpRelay, SmtpSettings
from services.campaigns.transactional import TransactionalMails
from services.campaigns.workers import DispatchWorkers, worker_name

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_campaigns"


def migrate_schema(engine: Engine) -> None:
    """Applies the campaigns migrations to head."""
    migrate(engine, MIGRATIONS, version_table=VERSION_TABLE)


@dataclass
class Campaigns:
    """The wired service: gRPC server, dispatch workers, scheduler, and how to stop them."""

    settings: CampaignsSettings
    db: Database
    service: CampaignsService
    dispatcher: Dispatcher
    workers: DispatchWorkers
    scheduler: CampaignScheduler | None
    server: grpc.Server
    health: HealthServicer
    pressure: PressureCounters
    closers: list[Callable[[], None]] = field(default_factory=list)
    interactions: Interactions | None = None
    previews: Previews | None = None
    policy_store: PolicyStore | None = None
    pressure_status: PressureStatus | None = None
    simulations: PressureSimulations | None = None
    reaches: Reaches | None = None
    dashboards: PressureDashboards | None = None
    rollups: PressureRollups | None = None
    reports: MonthlyReports | None = None

    def start_background(self) -> None:
        """Starts the dispatch workers and, when enabled, the scheduler."""
        self.workers.start()
        if self.scheduler:
            self.scheduler.start()

    def stop_background(self) -> None:
        """Stops the scheduler, then lets each worker finish the mail in hand."""
        if self.scheduler:
            self.scheduler.stop()
        self.workers.stop()

    def close(self) -> None:
        """Stops background work, then closes channels and connections."""
        self.stop_background()
        for close in self.closers:
            close()


def build(
    settings: CampaignsSettings,
    *,
    redis: Any = None,
    directory: Directory | None = None,
    consent: ConsentGate | None = None,
    organisation: Organisation | None = None,
    purposes: PurposeCatalogue | None = None,
) -> Campaigns:
    """Wires campaigns from settings; tests may pass their own Redis or peers."""
    engine = make_engine(settings.database_url)
    db = Database(engine)
    closers: list[Callable[[], None]] = [engine.dispose]
    identity = settings.service_identity("campaigns")
    tls = settings.channel_credentials()
    contacts_channel = open_channel(
        settings.contacts_target, identity.token, settings.rpc_timeout_seconds, tls
    )
    closers.append(contacts_channel.close)
    if directory is None:
        directory = GrpcDirectory(contacts_channel)
    if organisation is None:
        # Every caller's token is checked against the organisation tree contacts holds.
        organisation = Organisation(grpc_fetch(contacts_channel))
    consent_channel = open_channel(
        settings.consent_target, identity.token, settings.rpc_timeout_seconds, tls
    )
    closers.append(consent_channel.close)
    if consent is None:
        consent = GrpcConsentGate(consent_channel)
    if purposes is None:
        purposes = GrpcPurposeCatalogue(consent_channel)
    redis = redis if redis is not None else connect_redis(settings.redis_url)

    ledger = Ledger(db)
    # The interaction history asks contacts who the members are (ExistingContacts).
    members = directory if isinstance(directory, GrpcDirectory) else GrpcDirectory(contacts_channel)

    def counted(contact_ids: Sequence[str], since: datetime) -> list[Counted]:
        # Pressure counts campaign mail and the interactions staff record (a channel rule).
        return ledger.recent_sends(contact_ids, since) + interactions.counted_since(
            contact_ids, since
        )

    # The policy admins write (policy_store.py), read again every few seconds; until one is
    # written, the one grouping-wide rule of the settings (version 0).
    tree = organisation
    policy_store = PolicyStore(
        db,
        default_policy(settings.pressure_max_per_window, settings.pressure_window_seconds),
        components=lambda: tree.tree().components,
    )
    pressure = PressureCounters(redis, settings.redis_key_prefix, policy_store.current, counted)
    interactions = Interactions(db, members, on_recorded=pressure.record)
    # Dispatch and transactional mail keep pools of their own: a transactional send never
    # waits for a batch to finish with a connection.
    relay = SmtpRelay(_smtp_settings(settings), settings.smtp_pool_size)
    transactional_relay = SmtpRelay(_smtp_settings(settings), settings.smtp_pool_size)
    closers += [relay.close, transactional_relay.close]
    letterhead = Letterhead(
        settings.mail_from, settings.public_base_url, settings.unsubscribe_mailto
    )
    mails = MailFactory(
        letterhead,
        UnsubscribeTokens(settings.unsubscribe_secret.get_secret_value()),
        PersonLinks(settings.unsubscribe_secret.get_secret_value()),
        _dkim_signer(settings, letterhead),
    )
    gate = Gate(ledger, directory, consent, pressure)
    dispatcher = Dispatcher(
        ledger,
        gate,
        relay,
        mails,
        DispatchLimits(
            settings.batch_size,
            settings.claim_lease_seconds,
            settings.retry_delay_seconds,
            group_size=settings.send_group_size,
            max_attempts=settings.smtp_max_attempts,
            retry_max_seconds=settings.smtp_retry_max_seconds,
        ),
    )
    workers = DispatchWorkers(dispatcher, settings.dispatch_threads, settings.poll_seconds)

    scheduler: CampaignScheduler | None = None

    def on_scheduled(campaign_id: str, send_at: datetime) -> None:
        if scheduler is not None:
            scheduler.notify(campaign_id, send_at)

    def on_unscheduled(campaign_id: str) -> None:
        if scheduler is not None:
            scheduler.forget(campaign_id)

    service = CampaignsService(
        db, directory, purposes, on_scheduled=on_scheduled, on_unscheduled=on_unscheduled
    )
    previews = Previews(db, gate, service.audience_of, count_max=settings.preview_count_max)
    pressure_status = PressureStatus(db, members, pressure)
    simulations = PressureSimulations(
        db, gate, service.audience_of, pressure, lambda: tree.tree().components
    )
    # Reach counts run on threads of their own, stopped before the channels close.
    reaches = Reaches(db, previews)
    closers.insert(0, reaches.close)
    if settings.scheduler_enabled:
        scheduler = CampaignScheduler(
            service,
            leader_for(engine, LOCK_NAME),
            runner=worker_name(-1),
            sync_seconds=settings.scheduler_sync_seconds,
            misfire_grace_seconds=settings.misfire_grace_seconds,
        )

    dashboards = PressureDashboards(db, DisclosureRulesSource(grpc_rules(contacts_channel)))
    rollups = PressureRollups(
        db, GrpcEventFeed(consent_channel), timedelta(days=settings.pressure_attribution_days)
    )
    reports = MonthlyReports(
        db,
        dashboards,
        ledger,
        transactional_relay,
        mails,
        settings.monthly_report_to,
        settings.claim_lease_seconds,
        runner=worker_name(-1),
    )
    if scheduler is not None:
        _plan_pressure_jobs(scheduler, rollups, reports, settings)

    servicer = CampaignsServicer(
        service,
        ContactMerges(db, pressure),
        TransactionalMails(
            ledger,
            directory,
            transactional_relay,
            mails,
            frozenset(settings.transactional_roles),
            settings.claim_lease_seconds,
        ),
        ContactPrivacy(db, pressure),
        previews,
        reaches,
    )
    verifier = settings.verifier()
    server, health = build_server(
        verifier,
        [
            (SERVICE_NAME, register(servicer)),
            (INTERACTIONS_NAME, register_interactions(InteractionsServicer(interactions))),
            (
                POLICY_SERVICE_NAME,
                register_policy(
                    PressurePolicyServicer(policy_store, pressure_status, simulations, dashboards)
                ),
            ),
        ],
        settings.max_workers,
        principal_check=organisation.check,
    )
    return Campaigns(
        settings,
        db,
        service,
        dispatcher,
        workers,
        scheduler,
        server,
        health,
        pressure,
        closers,
        interactions,
        previews,
        policy_store=policy_store,
        pressure_status=pressure_status,
        simulations=simulations,
        reaches=reaches,
        dashboards=dashboards,
        rollups=rollups,
        reports=reports,
    )


def _plan_pressure_jobs(
    scheduler: CampaignScheduler,
    rollups: PressureRollups,
    reports: MonthlyReports,
    settings: CampaignsSettings,
) -> None:
    """The leader's pressure jobs: the rollup (and a report left waiting), the monthly report."""

    def rollup() -> None:
        try:
            rollups.refresh()
            reports.resume()
        except Exception:  # noqa: BLE001 - a job must not die: the next tick retries
            log.warning("pressure rollup failed; the next run retries", exc_info=False)

    scheduler.runner.add_periodic(
        rollup,
        job_id="pressure-rollup",
        seconds=settings.pressure_rollup_seconds,
        misfire_grace_seconds=max(1, int(settings.pressure_rollup_seconds)),
    )

    def report() -> None:
        reports.run()

    scheduler.runner.add_periodic(
        report,
        job_id="monthly-pressure-report",
        trigger=CronTrigger(day=1, hour=7, minute=0, timezone=PARIS),
        misfire_grace_seconds=6 * 3600,
    )


def _smtp_settings(settings: CampaignsSettings) -> SmtpSettings:
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def _dkim_signer(settings: CampaignsSettings, letterhead: Letterhead) -> DkimSigner | None:
    """The DKIM signer when a key file is configured (its domain: From's, unless named)."""
    if settings.dkim_private_key_file is None:
        return None
    if not settings.dkim_selector:
        raise ValueError("CAMPAIGNS_DKIM_SELECTOR is required with CAMPAIGNS_DKIM_PRIVATE_KEY_FILE")
    domain = settings.dkim_domain or letterhead.domain
    return DkimSigner.from_file(settings.dkim_selector, domain, settings.dkim_private_key_file)


def main() -> None:
    """`crm serve campaigns`: migrate if asked, serve, dispatch and schedule until signalled."""
    settings = CampaignsSettings()  # type: ignore[call-arg]
    # APScheduler logs every run of the sync job; keep its warnings and errors only.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    campaigns = build(settings)
    if settings.auto_migrate:
        migrate_schema(campaigns.db.engine)
    if settings.metrics_listen:
        register_backlog(Ledger(campaigns.db).backlog)
    serve_metrics(settings.metrics_listen)
    campaigns.start_background()
    try:
        run_until_signalled(
            campaigns.server,
            campaigns.health,
            settings.listen,
            settings.grace_seconds,
            on_stop=campaigns.stop_background,
            credentials=settings.server_credentials(),
        )
    finally:
        campaigns.close()


def migrate_only() -> None:
    """`crm migrate campaigns`: apply migrations, then exit."""
    migrate_url(CampaignsSettings().database_url, MIGRATIONS, VERSION_TABLE)
