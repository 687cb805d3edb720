"""The pressure dashboard's pre-aggregates (docs/pressure-dashboard.md).

- campaigns_pressure_cells: per month, series, component, purpose and bucket ('' for
  "all" or "no bucket"), the figure (units), the distinct contacts behind it and the
  largest share of one contact; counts only, no contact id.
- campaigns_pressure_cell_components: for the cells that add several components, the
  contacts (and units) each component brings (the dominance rule).
- campaigns_pressure_months: when each month's cells were last recomputed, and whether a
  merge, an erasure or a late event asks for a recompute (dirty).
- campaigns_pressure_responses: the withdrawals and objections pulled from consent, each
  attributed to the last marketing mail within the window (its component and purpose);
  keyed by consent's event id so a re-read adds nothing. Erasure deletes a person's rows.
- campaigns_pressure_cursor: how far consent's feed was read.
- two indexes so a month's sends and held-back mails are read by range, not by scan.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels = None
depends_on = None


def _cell() -> list[sa.Column[str]]:
    """The key of a figure: month, series, component, purpose, bucket ('' = all / none)."""
    return [
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("series", sa.String(32), primary_key=True),
        sa.Column("component", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(64), primary_key=True),
        sa.Column("bucket", sa.String(8), primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "campaigns_pressure_cells",
        *_cell(),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("contacts", sa.BigInteger(), nullable=False),
        sa.Column("top_units", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "campaigns_pressure_cell_components",
        *_cell(),
        sa.Column("contributor", sa.String(64), primary_key=True),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("contacts", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "campaigns_pressure_months",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dirty", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "campaigns_pressure_responses",
        sa.Column("event_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("contact_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("month", sa.String(7), nullable=False, index=True),
        sa.Column("component", sa.String(64), nullable=True),  # NULL: no mail in the window
        sa.Column("purpose", sa.String(64), nullable=True),
    )
    op.create_table(
        "campaigns_pressure_cursor",
        sa.Column("feed", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_deliveries_marketing_moment",
        "deliveries",
        [sa.text("coalesce(sent_at, send_started_at)")],
        postgresql_where=sa.text("message_class = 'marketing'"),
        sqlite_where=sa.text("message_class = 'marketing'"),
    )
    op.create_index(
        "ix_deliveries_held_back",
        "deliveries",
        [sa.text("coalesce(deferred_until, decided_at)")],
        postgresql_where=sa.text("deferred_until IS NOT NULL OR outcome = 'capped'"),
        sqlite_where=sa.text("deferred_until IS NOT NULL OR outcome = 'capped'"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_held_back", table_name="deliveries")
    op.drop_index("ix_deliveries_marketing_moment", table_name="deliveries")
    for table in (
        "campaigns_pressure_cursor",
        "campaigns_pressure_responses",
        "campaigns_pressure_months",
        "campaigns_pressure_cell_components",
        "campaigns_pressure_cells",
    ):
        op.drop_table(table)
