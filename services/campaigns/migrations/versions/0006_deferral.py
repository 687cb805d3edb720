"""Deferred deliveries: the time the pressure policy next allows a recipient.

deliveries gains deferred_until. A deferred row has outcome `deferred` and the
same time in claimed_until, so the claim takes it again, once, when it is due.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's batch mode would copy the table.
    op.add_column("deliveries", sa.Column("deferred_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN works on PostgreSQL and on SQLite 3.35 and later.
    op.execute(sa.text("ALTER TABLE deliveries DROP COLUMN deferred_until"))
