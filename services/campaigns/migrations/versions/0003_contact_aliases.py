"""campaign_contact_aliases: merged contact ids, so pressure counts one person once.

Revision ID: 0003
Revises: 0002
Create Date: 2024-09-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_contact_aliases",
        sa.Column("merged_id", sa.String(64), primary_key=True),
        sa.Column("survivor_id", sa.String(64), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_campaign_contact_aliases_survivor_id", "campaign_contact_aliases", ["survivor_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_contact_aliases_survivor_id", table_name="campaign_contact_aliases")
    op.drop_table("campaign_contact_aliases")
