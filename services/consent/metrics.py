"""What consent counts for Prometheus: the events it writes, by kind."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "crm_consent_events",
    "Consent events appended to the history, by kind (granted, withdrawn, objected...).",
    ["kind"],
)
