"""interactions: contacts made outside the ledger (calls, meetings, events, SMS sent elsewhere).

Revision ID: 0008
Revises: 0007
Create Date: 2025-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("component", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.UniqueConstraint("component", "idempotency_key", name="uq_interactions_idempotency_key"),
    )
    op.create_index(
        "ix_interactions_contact_occurred", "interactions", ["contact_id", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_interactions_contact_occurred", table_name="interactions")
    op.drop_table("interactions")
