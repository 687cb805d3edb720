"""How many times the relay refused a delivery for now (4xx): its retries back off, then stop.

deliveries gains attempts (0 for every existing row): dispatch adds one for each
temporary refusal, waits longer after each, and closes the row `smtp_failed`
when the limit is reached.

Revision ID: 0009
Revises: 0008
Create Date: 2025-04-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("attempts")
