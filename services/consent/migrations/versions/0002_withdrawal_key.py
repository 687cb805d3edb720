"""withdrawal_key: one event for two concurrent repeats of the same withdrawal.

A withdrawal stores a hash of its contact, channel, purpose, scope and the
latest event it follows; the unique index lets exactly one of two identical
withdrawals made from the same state be written. Grants keep it NULL, and
rows recorded before this revision too (NULLs never collide).

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEX = "uq_consent_events_withdrawal_key"


def upgrade() -> None:
    # Adding a nullable column touches no row, so the append-only triggers stay quiet.
    op.add_column("consent_events", sa.Column("withdrawal_key", sa.String(64), nullable=True))
    op.create_index(INDEX, "consent_events", ["withdrawal_key"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="consent_events")
    op.drop_column("consent_events", "withdrawal_key")
