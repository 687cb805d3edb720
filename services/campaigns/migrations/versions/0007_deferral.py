"""Deferred deliveries, and a campaign's priority, deadline and over-budget choice.

campaigns gains priority (1..10, default 5), deadline and over_budget (defer,
the default, or drop). deliveries gains deferred_until. A deferred row has
outcome `deferred` and the same time in claimed_until, so the claim takes it
again, once, when it is due.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("over_budget", sa.String(8), nullable=False, server_default="defer")
        )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not a batch (a copy of campaigns) on SQLite: deliveries' foreign key points at it.
    # ALTER TABLE ... DROP COLUMN works on PostgreSQL and on SQLite 3.35 and later.
    for column in ("over_budget", "deadline", "priority"):
        op.execute(sa.text(f"ALTER TABLE campaigns DROP COLUMN {column}"))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("deferred_until")
