"""The monthly pressure report: the previous month's grouping dashboard, mailed once.

A cron job of campaigns' leader scheduler, the 1st of each month at 07:00 Europe/Paris.
For each address of CAMPAIGNS_MONTHLY_REPORT_TO it mails a short French and English
summary (published figures only) with the whole grouping dashboard as a CSV attachment.
It is transactional mail (no consent asked, no pressure budget) and goes through the
ledger like every mail:

- one transaction claims the run key (the month, `claim_run`) and opens one
  transactional row per address (idempotency key `monthly-pressure-report:<month>:<n>`,
  unique), held by this run: a second firing (another replica, a retry, a leader handed
  over) finds the key claimed and sends nothing;
- each row is marked in flight before SMTP and closed after it, as any transactional
  mail: `sent`, `unconfirmed` (never sent again) or `smtp_failed`; a relay that is away
  releases the row, and `resume` (run with each rollup) sends it later, once.

The addresses are the deployment's own (a setting), not contacts: they are never logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.csv_export import FIGURE_COLUMNS, figure_rows, to_csv
from meshkit.db import Database
from meshkit.scheduling import claim_run
from services.campaigns.ledger import Ledger
from services.campaigns.message import MailFactory
from services.campaigns.models import JOB_RUNS, Delivery
from services.campaigns.policy import (
    RULE_REPLY_LOST,
    RULE_TRANSACTIONAL,
    MessageClass,
    Outcome,
    smtp_rule,
)
from services.campaigns.pressure_dashboard import Dashboard, PressureDashboards
from services.campaigns.pressure_publication import Figure
from services.campaigns.pressure_rollup import ALL, SERIES, month_of, previous_month
from services.campaigns.smtp import PermanentFailure, ReplyLost, SmtpRelay, TemporaryFailure
from services.campaigns.transactional import AUTO_SUBMITTED

log = logging.getLogger(__name__)

JOB = "monthly-pressure-report"
KIND = "monthly_report"
SENDER = "service:campaigns"
REPORT_CONTACT = "report:monthly-pressure"  # not a contact: the row names no person
PARIS = ZoneInfo("Europe/Paris")
LABELS = {
    "contacts_reached": ("Contacts ayant reçu au moins un message", "Contacts reached"),
    "messages_per_week": ("Contacts-semaines par nombre de messages", "Contact-weeks by messages"),
    "messages_per_month": ("Contacts par nombre de messages dans le mois", "Contacts by messages"),
    "at_cap": ("Contacts ayant atteint un plafond", "Contacts at a cap"),
    "deferrals": ("Envois différés par les règles de pression", "Sends deferred by the rules"),
    "unsubscribes": ("Désinscriptions après un envoi", "Unsubscribes after a mailing"),
    "objections": ("Oppositions après un envoi", "Objections after a mailing"),
}


def report_month(fired_at: datetime) -> str:
    """The month a run fired at `fired_at` reports on: the one before, in Paris time."""
    return previous_month(fired_at.astimezone(PARIS).strftime("%Y-%m"))


def idempotency_key(month: str, index: int, address: str) -> str:
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:16]
    return f"{JOB}:{month}:{index}:{digest}"


def dashboard_csv(dashboard: Dashboard) -> str:
    """RFC 4180 (meshkit.csv_export), one row per figure; a suppressed one has no value."""
    return to_csv(FIGURE_COLUMNS, figure_rows(dashboard.figures))


def summary_text(dashboard: Dashboard) -> str:
    """The French then English summary: the grouping's totals, published figures only."""
    totals: dict[str, Figure] = {
        f.series: f
        for f in dashboard.figures
        if f.component == ALL and f.purpose == ALL and f.bucket == ALL
    }
    french = [
        f"Pression marketing du groupement, {dashboard.month}",
        f"(règles de publication : au moins {dashboard.rules.k} contacts, "
        f"aucune composante au-delà de {dashboard.rules.p} %)",
        "",
    ]
    english = [
        f"The grouping's marketing pressure, {dashboard.month}",
        f"(publication rules: at least {dashboard.rules.k} contacts, "
        f"no component above {dashboard.rules.p}%)",
        "",
    ]
    for series in SERIES:
        fr, en = LABELS[series]
        figure = totals.get(series)
        shown = figure is not None and figure.value is not None
        french.append(f"- {fr} : {figure.value if shown else 'non publié'}")  # type: ignore[union-attr]
        english.append(f"- {en}: {figure.value if shown else 'not published'}")  # type: ignore[union-attr]
    french += ["", "Le détail par composante et finalité est en pièce jointe (CSV).", ""]
    english += ["", "Details by component and purpose are attached (CSV).", ""]
    return "\n".join(french + ["-" * 40, ""] + english)


class MonthlyReports:
    """The report job: claim the month, open one transactional row per address, send."""

    def __init__(
        self,
        db: Database,
        dashboards: PressureDashboards,
        ledger: Ledger,
        relay: SmtpRelay,
        mails: MailFactory,
        recipients: Sequence[str],
        lease_seconds: int,
        runner: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._db = db
        self._dashboards = dashboards
        self._ledger = ledger
        self._relay = relay
        self._mails = mails
        self._recipients = tuple(recipients)
        self._lease = lease_seconds
        self._runner = runner
        self._clock = clock

    def run(self) -> int:
        """The cron job: the previous month's report, once; how many mails this run sent."""
        if not self._recipients:
            return 0
        now = self._clock()
        month = report_month(now)
        worker = _worker()
        with self._db.transaction() as session:
            if not claim_run(session, JOB_RUNS, JOB, month, self._runner, now):
                log.info("monthly report %s: already claimed", month)
                return 0
            rows = self._open_rows(session, month, worker, now)
        log.info("monthly report %s: %d mail(s) to send", month, len(rows))
        return self._send(month, worker, rows)

    def resume(self) -> int:
        """Sends the rows of the last report a failed run left waiting (its lease over)."""
        if not self._recipients:
            return 0
        month = report_month(self._clock())
        with self._db.transaction() as session:
            claimed = session.scalar(
                select(JOB_RUNS.c.run_key).where(JOB_RUNS.c.job == JOB, JOB_RUNS.c.run_key == month)
            )
        if claimed is None:
            return 0
        worker = _worker()
        rows: list[tuple[int, str]] = []
        for index, address in enumerate(self._recipients):
            key = idempotency_key(month, index, address)
            row, held = self._ledger.open_transactional(
                key, REPORT_CONTACT, KIND, SENDER, worker, self._lease
            )
            if held:
                rows.append((row.id, address))
        return self._send(month, worker, rows) if rows else 0

    def _open_rows(
        self, session: Session, month: str, worker: str, now: datetime
    ) -> list[tuple[int, str]]:
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        rows = []
        for index, address in enumerate(self._recipients):
            created = session.execute(
                insert(Delivery)
                .values(
                    message_class=MessageClass.TRANSACTIONAL.value,
                    idempotency_key=idempotency_key(month, index, address),
                    contact_id=REPORT_CONTACT,
                    kind=KIND,
                    sender=SENDER,
                    outcome=Outcome.PENDING.value,
                    claimed_by=worker,
                    claimed_until=now + timedelta(seconds=self._lease),
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(Delivery.id)
            ).first()
            if created is not None:
                rows.append((int(created[0]), address))
        return rows

    def _send(self, month: str, worker: str, rows: list[tuple[int, str]]) -> int:
        dashboard = self._dashboards.view(month)
        attachment = dashboard_csv(dashboard).encode("utf-8")
        body = summary_text(dashboard)
        sent = 0
        for row_id, address in rows:
            sent += self._deliver(worker, row_id, address, month, body, attachment)
        return sent

    def _deliver(
        self, worker: str, row_id: int, address: str, month: str, body: str, attachment: bytes
    ) -> int:
        message_id = self._mails.new_message_id()
        message = self._mails.build(
            to=address,
            subject=f"Pression marketing / Marketing pressure: {month}",
            body=body,
            message_id=message_id,
            unsubscribe=None,
            headers=dict((AUTO_SUBMITTED, ("Content-Language", "fr, en"))),
        )
        message.add_attachment(
            attachment, maintype="text", subtype="csv", filename=f"pressure-{month}.csv"
        )
        outgoing = self._mails.outgoing(message)
        if not self._ledger.mark_sending(worker, row_id, message_id, self._lease):
            log.warning("monthly report row %d: lost its claim before the send", row_id)
            return 0
        try:
            with self._relay.session() as smtp:
                smtp.send(outgoing)
        except PermanentFailure as failure:
            self._ledger.decide(worker, [(row_id, Outcome.SMTP_FAILED, smtp_rule(failure.code))])
            return 0
        except TemporaryFailure as failure:
            self._ledger.release(worker, [row_id], retry_after_seconds=0)
            log.warning("monthly report row %d: relay unavailable (code %s)", row_id, failure.code)
            return 0
        except ReplyLost:
            self._ledger.close_unconfirmed(worker, row_id, RULE_REPLY_LOST)
            return 0
        self._ledger.close_sent(worker, row_id, RULE_TRANSACTIONAL)
        return 1


def _worker() -> str:
    return f"report:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


__all__ = ["MonthlyReports", "dashboard_csv", "month_of", "report_month", "summary_text"]
