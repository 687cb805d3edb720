"""The monthly pressure report: mailed once per address and month, to a real SMTP server.

Two "replicas" (two MonthlyReports over the same PostgreSQL database, each its own
worker) fire at the same moment, then one fires again (a retry): the SMTP catcher gets
one mail per address. The mail carries the previous month's grouping dashboard as CSV
and a French and English summary that quotes published figures only. A relay that
refuses for a moment leaves the row waiting; the next rollup tick sends it, once.
"""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from meshkit.db import Database
from meshkit.links import PersonLinks
from meshkit.unsubscribe import UnsubscribeTokens
from services.campaigns.ledger import Ledger
from services.campaigns.message import Letterhead, MailFactory
from services.campaigns.models import JOB_RUNS, Delivery
from services.campaigns.monthly_report import JOB, KIND, MonthlyReports
from services.campaigns.pressure_dashboard import DisclosureRulesSource, PressureDashboards
from services.campaigns.pressure_rollup import PressureRollups
from services.campaigns.smtp import SmtpRelay, SmtpSettings
from tests.integration.campaigns.peers import Sink, smtp_sink
from tests.support.ledger import done_campaign, sent_row

FIRED = datetime(2025, 7, 1, 5, 0, 5, tzinfo=UTC)  # 1 July, 07:00 in Paris
MONTH = "2025-06"
TO = ("dircom@univ.example", "dpo@univ.example")


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[Sink, int]]:
    with smtp_sink() as running:
        yield running


@pytest.fixture(scope="module")
def seeded(db: Database) -> None:
    """June: 120 people mailed by three components (2 also by a small one), the report's month."""
    campaigns = []
    with db.transaction() as session:
        for component in ("sciences", "lettres", "medecine", "tiny"):
            for purpose in ("newsletter", "events"):
                created = FIRED - timedelta(days=60)
                campaigns.append(done_campaign(session, component, purpose, created, "june"))
        rows = []
        for i in range(120):
            for j, campaign in enumerate(campaigns):
                # two people only hear from the small component: below k
                if (j < 6 and (i + j) % 3) or (j >= 6 and i < 2):
                    at = datetime(2025, 6, 2, tzinfo=UTC) + timedelta(hours=(i * 7 + j * 31) % 650)
                    rows.append(sent_row(campaign, f"june-{i}", at))
        session.execute(insert(Delivery), rows)
    PressureRollups(db, None, timedelta(days=7), clock=lambda: FIRED).recompute(MONTH)


def replica(db: Database, port: int, recipients: tuple[str, ...] = TO) -> MonthlyReports:
    relay = SmtpRelay(SmtpSettings("127.0.0.1", port, False, None, None, 10.0), 1)
    mails = MailFactory(
        Letterhead("Communication <no-reply@crm.localhost>", "http://127.0.0.1:8080", "u@x.fr"),
        UnsubscribeTokens("secret"),
        PersonLinks("secret"),
    )
    return MonthlyReports(
        db,
        PressureDashboards(db, DisclosureRulesSource(None)),
        Ledger(db, clock=lambda: datetime.now(UTC)),
        relay,
        mails,
        recipients,
        lease_seconds=60,
        runner=f"replica-{uuid.uuid4().hex[:6]}",
        clock=lambda: FIRED,
    )


def report_rows(db: Database) -> list[Any]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Delivery.idempotency_key, Delivery.outcome, Delivery.message_class).where(
                    Delivery.kind == KIND
                )
            ).all()
        )


def test_two_replicas_and_a_retry_send_one_report_per_address(
    db: Database, sink: tuple[Sink, int], seeded: None
) -> None:
    catcher, port = sink
    first, second = replica(db, port), replica(db, port)
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def fire(reports: MonthlyReports) -> None:
        barrier.wait(timeout=30)
        sent.append(reports.run())

    threads = [threading.Thread(target=fire, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(sent) == [0, 2]
    assert replica(db, port).run() == 0  # fired again later: the month is claimed
    assert first.resume() == 0  # nothing waits
    for address in TO:
        assert len(catcher.to(address)) == 1
    rows = report_rows(db)
    assert sorted(outcome for _, outcome, _ in rows) == ["sent", "sent"]
    assert {cls for _, _, cls in rows} == {"transactional"}
    with db.transaction() as session:
        runs = session.execute(select(JOB_RUNS.c.run_key).where(JOB_RUNS.c.job == JOB)).all()
    assert [r[0] for r in runs] == [MONTH]


def test_the_report_carries_the_csv_and_published_figures_only(
    db: Database, sink: tuple[Sink, int], seeded: None
) -> None:
    catcher, _ = sink
    (message,) = catcher.to(TO[0])
    assert MONTH in str(message["Subject"])
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is None
    parts = {part.get_content_type(): part for part in message.iter_parts()}
    text = parts["text/plain"].get_content()
    table = parts["text/csv"].get_content()
    assert parts["text/csv"].get_filename() == f"pressure-{MONTH}.csv"
    rows = list(csv.DictReader(io.StringIO(table)))
    assert rows and all(r["value"] == "" for r in rows if r["published"] == "false")
    published = [r for r in rows if r["published"] == "true"]
    assert published and any(r["published"] == "false" for r in rows)
    totals = {r["series"]: r for r in rows if not (r["component"] or r["purpose"] or r["bucket"])}
    reached = totals["contacts_reached"]
    assert reached["published"] == "true" and reached["value"] == "120"
    assert "Contacts ayant reçu au moins un message : 120" in text
    assert "Contacts reached: 120" in text
    # a series with nothing published says so in both languages, with no number
    assert "Désinscriptions après un envoi : non publié" in text
    assert "june-" not in text and "june-" not in table


def test_a_relay_away_leaves_the_row_waiting_and_the_next_tick_sends_it_once(
    db: Database, sink: tuple[Sink, int], seeded: None
) -> None:
    catcher, port = sink
    address = "late@univ.example"
    reports = replica(db, port, recipients=(address,))
    # another deployment's month: the run key is per month, so claim a new one
    later = datetime(2025, 8, 1, 5, 0, tzinfo=UTC)
    reports._clock = lambda: later  # type: ignore[method-assign]
    catcher.refuse_once[address] = "451 try again later"
    assert reports.run() == 0
    assert len(catcher.to(address)) == 0
    assert reports.resume() == 1
    assert reports.resume() == 0
    assert len(catcher.to(address)) == 1
