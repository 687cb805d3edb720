"""What campaigns counts for Prometheus: decisions, sends, deferrals, retries, backlog, rebuilds.

Each counter is bumped after the commit that records what it counts, so a
scrape never shows a decision the ledger does not hold. The backlog gauge is
read from the ledger at scrape time (one indexed count over running campaigns):
every replica reports the same figure, so a dashboard takes their max.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

log = logging.getLogger(__name__)

DECISIONS = Counter(
    "crm_campaign_decisions",
    "Recipients closed for good in the ledger, by outcome code (sent, no_consent, capped...).",
    ["outcome"],
)
SENDS = Counter(
    "crm_campaign_sends",
    "Mails the SMTP relay accepted, campaign mail or transactional.",
    ["kind"],
)
DEFERRALS = Counter(
    "crm_campaign_deferrals",
    "Recipients deferred by the pressure budget or a quiet period (each deferral counts).",
)
SMTP_RETRIES = Counter(
    "crm_campaign_smtp_retries",
    "Temporary SMTP refusals that put a recipient back to be tried again later.",
)
PRESSURE_REBUILDS = Counter(
    "crm_pressure_rebuilds",
    "Contacts whose pressure log was rebuilt from the ledger (Redis had lost it).",
)
BACKLOG = "crm_campaign_ledger_backlog"


def count_decisions(written: Mapping[str, int]) -> None:
    """Adds rows closed per outcome code (after their commit)."""
    for outcome, rows in written.items():
        if rows:
            DECISIONS.labels(str(outcome)).inc(rows)


class BacklogCollector(Collector):
    """The ledger's waiting rows of running campaigns, by state, read when scraped."""

    def __init__(self, backlog: Callable[[], Mapping[str, int]]):
        self._backlog = backlog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            BACKLOG,
            "Recipients of running campaigns still waiting (pending or deferred), by state.",
            labels=["state"],
        )
        try:
            counts = self._backlog()
        except Exception as error:  # a scrape must not fail because the database is away
            log.warning("ledger backlog unavailable: %s", type(error).__name__)
            return
        for state in ("pending", "deferred"):
            gauge.add_metric([state], counts.get(state, 0))
        yield gauge

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering asks for a description; answering without the database keeps it cheap.
        yield GaugeMetricFamily(BACKLOG, "", labels=["state"])


def register_backlog(backlog: Callable[[], Mapping[str, int]]) -> None:
    """Publishes the backlog gauge (once per process: a second call is ignored)."""
    try:
        REGISTRY.register(BacklogCollector(backlog))
    except ValueError:
        pass  # already registered (a process builds campaigns once; tests may build more)
