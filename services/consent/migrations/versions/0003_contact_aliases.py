"""consent_contact_aliases: ids merged into another contact, read together by decisions.

consent_events stays append-only: a merge adds one alias row, never touches an event.

Revision ID: 0003
Revises: 0002
Create Date: 2024-09-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_contact_aliases",
        sa.Column("merged_id", sa.String(64), primary_key=True),
        sa.Column("survivor_id", sa.String(64), nullable=False),
        sa.Column("merge_seq", sa.BigInteger(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_consent_contact_aliases_survivor_id", "consent_contact_aliases", ["survivor_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_consent_contact_aliases_survivor_id", table_name="consent_contact_aliases")
    op.drop_table("consent_contact_aliases")
