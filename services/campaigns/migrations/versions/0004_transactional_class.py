"""Transactional messages in the ledger, and meshkit's job runs table.

deliveries gains message_class (marketing, the default of every existing row,
or transactional), kind, sender and a unique idempotency key; a transactional
row belongs to no campaign. scheduler_runs becomes campaigns_job_runs, the
run-key table of meshkit.scheduling (its rows are kept).

Revision ID: 0004
Revises: 0003
Create Date: 2025-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels = None
depends_on = None

LEDGER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_PREFIX = "start:"  # scheduler_runs keys were "start:<campaign>:<send_at>"
JOB = "campaign-start"


def upgrade() -> None:
    op.create_table(
        "campaigns_job_runs",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("run_key", sa.String(200), primary_key=True),
        sa.Column("ran_by", sa.String(200), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO campaigns_job_runs (job, run_key, ran_by, ran_at)"
            f" SELECT '{JOB}', SUBSTR(run_key, {len(OLD_PREFIX) + 1}), ran_by, ran_at"
            " FROM scheduler_runs"
        )
    )
    op.drop_table("scheduler_runs")
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("message_class", sa.String(16), nullable=False, server_default="marketing")
        )
        batch.add_column(sa.Column("kind", sa.String(64), nullable=True))
        batch.add_column(sa.Column("sender", sa.String(200), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
        batch.alter_column("campaign_id", existing_type=sa.String(36), nullable=True)
        batch.create_unique_constraint("uq_deliveries_idempotency_key", ["idempotency_key"])
        batch.create_check_constraint(
            "ck_deliveries_class",
            "(message_class = 'marketing' AND campaign_id IS NOT NULL)"
            " OR (message_class = 'transactional' AND idempotency_key IS NOT NULL)",
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM deliveries WHERE message_class = 'transactional'"))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("ck_deliveries_class", type_="check")
        batch.drop_constraint("uq_deliveries_idempotency_key", type_="unique")
        batch.alter_column("campaign_id", existing_type=sa.String(36), nullable=False)
        batch.drop_column("idempotency_key")
        batch.drop_column("sender")
        batch.drop_column("kind")
        batch.drop_column("message_class")
    op.create_table(
        "scheduler_runs",
        sa.Column("id", LEDGER_ID, primary_key=True, autoincrement=True),
        sa.Column("run_key", sa.String(200), nullable=False, unique=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("ran_by", sa.String(200), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO scheduler_runs (run_key, campaign_id, ran_by, ran_at)"
            f" SELECT '{OLD_PREFIX}' || run_key, SUBSTR(run_key, 1, 36), ran_by, ran_at"
            f" FROM campaigns_job_runs WHERE job = '{JOB}'"
        )
    )
    op.drop_table("campaigns_job_runs")
