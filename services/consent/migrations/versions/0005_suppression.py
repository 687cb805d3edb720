"""consent_suppressions: keyed hashes of suppressed addresses, never an address or a contact id.

Revision ID: 0005
Revises: 0003 (re-chained after 0004 when the consent core lands)
Create Date: 2024-10-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_suppressions",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('objected', 'erased', 'bounced', 'manual')",
            name="ck_consent_suppressions_reason",
        ),
    )


def downgrade() -> None:
    op.drop_table("consent_suppressions")
