"""A campaign's reach counted in the background: one snapshot row per campaign.

campaign_reach holds the counts per outcome over the whole audience, the
progress of the count in hand (audience, evaluated), when it started and
finished, the campaign revision it was made for, and the lease of the count
that holds it (one count per campaign across replicas).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_reach",
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("audience", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("evaluated", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('counting', 'done', 'failed')", name="ck_campaign_reach_status"
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_reach")
