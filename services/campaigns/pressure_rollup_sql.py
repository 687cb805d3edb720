"""The sends' figures of one month computed inside PostgreSQL (pressure_rollup.py's fast path).

The same figures `pressure_rollup.person_figures` computes person by person in Python
(`contacts_reached`, `messages_per_month`, `messages_per_week`, with each component's
share of the figures of several), as a handful of GROUP BY GROUPING SETS over the month's
sends: at ten million ledger rows the per-person loop in Python takes minutes a month,
this takes seconds. Only counts come back. The integration tests compare the two paths
on the same ledger. NULL in a grouping set is "every component" or "every purpose" ('').
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.campaigns.repository import ERASED_PREFIX

# The month's per-person counts, once per recompute, in a temporary table of the transaction.
COUNTS = """
CREATE TEMPORARY TABLE pressure_counts ON COMMIT DROP AS
WITH base AS (
    SELECT coalesce(a.survivor_id, d.contact_id) COLLATE "C" AS person,
           c.owner_component COLLATE "C" AS comp,
           c.purpose COLLATE "C" AS purp,
           coalesce(d.sent_at, d.send_started_at) AT TIME ZONE 'UTC' AS at
    FROM deliveries d
    JOIN campaigns c ON c.id = d.campaign_id
    LEFT JOIN campaign_contact_aliases a ON a.merged_id = d.contact_id
    WHERE d.message_class = 'marketing'
      AND d.outcome IN ('sent', 'unconfirmed')
      AND coalesce(d.sent_at, d.send_started_at) >= :lo
      AND coalesce(d.sent_at, d.send_started_at) < :hi
      AND d.contact_id NOT LIKE :erased
),
periods AS (
    SELECT 'M' AS kind, '' AS period, person, comp, purp FROM base
    WHERE at >= :m0 AND at < :m1
    UNION ALL
    SELECT 'W', to_char(at, 'IYYY-IW'), person, comp, purp FROM base
    WHERE to_char(date_trunc('week', at) + interval '3 days', 'YYYY-MM') = :month
)
SELECT kind, period, person, comp, purp, count(*) AS n,
       CASE WHEN count(*) >= 10 THEN '10+' ELSE count(*)::text END AS bucket
FROM periods
GROUP BY GROUPING SETS (
    (kind, period, person, comp, purp), (kind, period, person, comp),
    (kind, period, person, purp), (kind, period, person)
)
"""

CELLS = """
WITH per_person AS (
    SELECT kind, comp, purp, bucket, person, count(*) AS w
    FROM pressure_counts
    GROUP BY GROUPING SETS ((kind, comp, purp, bucket, person), (kind, comp, purp, person))
)
SELECT kind, coalesce(comp, ''), coalesce(purp, ''), coalesce(bucket, ''),
       sum(w) AS units, count(*) AS contacts, max(w) AS top
FROM per_person
GROUP BY kind, comp, purp, bucket
"""

CONTRIBUTORS = """
SELECT b.kind, coalesce(b.purp, ''), coalesce(b.bucket, ''), c.comp,
       sum(c.n) AS units, count(DISTINCT b.person) AS contacts
FROM pressure_counts b
JOIN pressure_counts c
  ON c.kind = b.kind AND c.period = b.period AND c.person = b.person
 AND c.comp IS NOT NULL AND c.purp IS NOT DISTINCT FROM b.purp
WHERE b.comp IS NULL
GROUP BY GROUPING SETS ((b.kind, b.purp, b.bucket, c.comp), (b.kind, b.purp, c.comp))
"""

SERIES_OF = {"M": "messages_per_month", "W": "messages_per_week"}


def sends_figures(
    session: Session, month: str, bounds: tuple[datetime, datetime], span: tuple[datetime, datetime]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(cells, contributors) of the month's sends: rows of (kind, component, purpose, bucket,
    units, contacts, top) and (kind, purpose, bucket, contributor, units, contacts)."""
    values = {
        "lo": min(bounds[0], span[0]),
        "hi": max(bounds[1], span[1]),
        "m0": bounds[0].replace(tzinfo=None),
        "m1": bounds[1].replace(tzinfo=None),
        "month": month,
        "erased": f"{ERASED_PREFIX}%",
    }
    # the month's sorts and hashes in memory, for this transaction only
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    session.execute(text(COUNTS), values)
    # Statistics of the new table: without them the planner takes a million rows for a few
    # hundred and sorts where it should hash (the contributors' join took twice as long).
    session.execute(text("ANALYZE pressure_counts"))
    cells = [tuple(r) for r in session.execute(text(CELLS))]
    contributors = [tuple(r) for r in session.execute(text(CONTRIBUTORS))]
    session.execute(text("DROP TABLE pressure_counts"))  # a second month in one transaction
    return cells, contributors
