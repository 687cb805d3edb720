"""Campaigns, the delivery ledger and scheduler runs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_component", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("subject_template", sa.Text(), nullable=False),
        sa.Column("body_template", sa.Text(), nullable=False),
        sa.Column("audience_kind", sa.String(20), nullable=False),
        sa.Column("audience_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("send_at"),
        sa.Column("created_by", sa.String(200), nullable=False),
        _when("created_at", nullable=False),
        _when("started_at"),
        _when("finished_at"),
    )
    op.create_index("ix_campaigns_owner_component", "campaigns", ["owner_component"])
    op.create_index("ix_campaigns_status", "campaigns", ["status"])

    op.create_table(
        "deliveries",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(100), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        _when("claimed_until"),
        _when("send_started_at"),
        _when("decided_at"),
        _when("sent_at"),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.UniqueConstraint("campaign_id", "contact_id", name="uq_deliveries_campaign_contact"),
    )
    op.create_index("ix_deliveries_campaign_outcome", "deliveries", ["campaign_id", "outcome"])
    op.create_index("ix_deliveries_contact", "deliveries", ["contact_id"])

    op.create_table(
        "scheduler_runs",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("run_key", sa.String(200), nullable=False, unique=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("ran_by", sa.String(200), nullable=False),
        _when("ran_at", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduler_runs")
    op.drop_index("ix_deliveries_contact", table_name="deliveries")
    op.drop_index("ix_deliveries_campaign_outcome", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_index("ix_campaigns_owner_component", table_name="campaigns")
    op.drop_table("campaigns")
