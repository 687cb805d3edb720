"""What the ledger tells Prometheus: rows it really closed, and the backlog of running campaigns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from meshkit.db import Database
from services.campaigns.ledger import Ledger, SendOutcomes
from services.campaigns.policy import Outcome
from tests.integration.campaigns.test_ledger import add_campaign, db  # noqa: F401  (fixture)


def _decided(outcome: str) -> float:
    value = REGISTRY.get_sample_value("crm_campaign_decisions_total", {"outcome": outcome})
    return value or 0.0


def _deferred() -> float:
    return REGISTRY.get_sample_value("crm_campaign_deferrals_total") or 0.0


def test_only_rows_closed_for_good_are_counted_once_each(db: Database) -> None:  # noqa: F811
    add_campaign(db, ["a", "b", "c", "d"])
    ledger = Ledger(db)
    batch = ledger.claim("w1", 10, 60)
    assert batch is not None
    row = {r.contact_id: r.id for r in batch.rows}
    no_consent, sent, deferred = _decided("no_consent"), _decided("sent"), _deferred()

    ledger.decide("w1", [(row["a"], Outcome.NO_CONSENT, "consent:none")])
    # Another worker's late decision changes nothing, so counts nothing.
    ledger.decide("w2", [(row["b"], Outcome.NO_CONSENT, "consent:none")])
    ledger.defer("w1", [(row["c"], datetime.now(UTC) + timedelta(days=1), "pressure:week")])
    ledger.close_group("w1", SendOutcomes(sent=[(row["d"], "consent:granted")]))
    ledger.close_group("w1", SendOutcomes(sent=[(row["d"], "consent:granted")]))  # closed

    assert _decided("no_consent") == no_consent + 1
    assert _decided("sent") == sent + 1
    assert _deferred() == deferred + 1


def test_the_backlog_counts_waiting_rows_of_running_campaigns_only(db: Database) -> None:  # noqa: F811
    add_campaign(db, ["p1", "p2", "p3"])
    add_campaign(db, ["q1", "q2"], status="paused")
    ledger = Ledger(db)
    assert ledger.backlog() == {"pending": 3}
    batch = ledger.claim("w1", 10, 60)
    assert batch is not None
    first, second, _ = batch.rows
    ledger.defer("w1", [(first.id, datetime.now(UTC) + timedelta(days=1), "pressure:week")])
    ledger.decide("w1", [(second.id, Outcome.NOT_MEMBER, "membership")])
    assert ledger.backlog() == {"pending": 1, "deferred": 1}
