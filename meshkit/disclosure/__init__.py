"""Statistical disclosure control, shared by the contacts and campaigns services.

cells: the rules and the protected table (from rows or from per-cell summaries); secondary
and linear: complementary suppression and its exact rank test; sketch: power-sum sketches of
contact sets; audit: the query auditor. docs/disclosure-control.md explains the choices.
"""

from meshkit.disclosure.audit import Fingerprint, Refusal, audit, fingerprints
from meshkit.disclosure.cells import (
    Cell,
    CellSummary,
    Exact,
    Number,
    Reason,
    Row,
    Rules,
    Statistic,
    Table,
    primary_reason,
    protect,
    protect_summaries,
    quantile,
    summarize,
)
from meshkit.disclosure.secondary import Key
from meshkit.disclosure.sketch import (
    Q,
    Sketch,
    contact_hash,
    degrees,
    sketch_of,
    small_difference,
    sql_hash,
    sql_power_sum,
)

__all__ = [
    "Q",
    "Cell",
    "CellSummary",
    "Exact",
    "Fingerprint",
    "Key",
    "Number",
    "Reason",
    "Refusal",
    "Row",
    "Rules",
    "Sketch",
    "Statistic",
    "Table",
    "audit",
    "contact_hash",
    "degrees",
    "fingerprints",
    "primary_reason",
    "protect",
    "protect_summaries",
    "quantile",
    "sketch_of",
    "small_difference",
    "sql_hash",
    "sql_power_sum",
    "summarize",
]
