"""The campaign lifecycle: paused and cancelled, priority, deadline, over-budget rule, HTML body.

campaigns gains priority (1..10, 5 for every existing campaign), deadline,
over_budget (defer, the default, or drop), html_body_template, paused_at and
cancelled_at, and CHECKs on status (the words of
services/campaigns/lifecycle.py CampaignStatus), priority and over_budget,
so no writer can store a status the code does not know.

Revision ID: 0005
Revises: 0004
Create Date: 2025-04-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels = None
depends_on = None

# Written out, not imported: a migration keeps the meaning it had when it was written.
STATUSES = ("draft", "scheduled", "running", "paused", "done", "cancelled")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("over_budget", sa.String(8), nullable=False, server_default="defer")
        )
        batch.add_column(sa.Column("html_body_template", sa.Text(), nullable=True))
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            "ck_campaigns_status", f"status IN ({', '.join(repr(s) for s in STATUSES)})"
        )
        batch.create_check_constraint("ck_campaigns_priority", "priority BETWEEN 1 AND 10")
        batch.create_check_constraint(
            "ck_campaigns_over_budget", "over_budget IN ('defer', 'drop')"
        )


def downgrade() -> None:
    # The older code knows neither word: a paused campaign runs again, a cancelled one is done.
    op.execute(sa.text("UPDATE campaigns SET status = 'running' WHERE status = 'paused'"))
    op.execute(sa.text("UPDATE campaigns SET status = 'done' WHERE status = 'cancelled'"))
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint("ck_campaigns_over_budget", type_="check")
        batch.drop_constraint("ck_campaigns_priority", type_="check")
        batch.drop_constraint("ck_campaigns_status", type_="check")
        batch.drop_column("cancelled_at")
        batch.drop_column("paused_at")
        batch.drop_column("html_body_template")
        batch.drop_column("over_budget")
        batch.drop_column("deadline")
        batch.drop_column("priority")
