"""Aggregate snapshots: the statement's cell summaries per plan, for fast repeated answers.

`aggregate_snapshots` keeps, per digest (an HMAC of the plan under the auditor's secret),
the plan (for the refresher), the statement's rows (cell summaries and sketch sums: no
contact id), when they were computed, when last asked, and the organisation version they
were computed under. Used on PostgreSQL only; the table exists everywhere (one schema).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aggregate_snapshots",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organisation_version", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_aggregate_snapshots_last_asked_at", "aggregate_snapshots", ["last_asked_at"]
    )


def downgrade() -> None:
    op.drop_table("aggregate_snapshots")
