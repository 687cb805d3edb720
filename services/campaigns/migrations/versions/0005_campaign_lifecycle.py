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
    # Plain ADD COLUMNs: SQLite's batch mode would copy `campaigns`, which deliveries
    # references, and the copy fails with foreign keys on.
    op.add_column(
        "campaigns", sa.Column("priority", sa.Integer(), nullable=False, server_default="5")
    )
    op.add_column("campaigns", sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "campaigns",
        sa.Column("over_budget", sa.String(8), nullable=False, server_default="defer"),
    )
    op.add_column("campaigns", sa.Column("html_body_template", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_context().dialect.name == "sqlite":
        return  # SQLite adds no constraint to an existing table (the embedded mode only)
    for name, condition in _checks():
        op.create_check_constraint(name, "campaigns", condition)


def _checks() -> list[tuple[str, str]]:
    return [
        ("ck_campaigns_status", f"status IN ({', '.join(repr(s) for s in STATUSES)})"),
        ("ck_campaigns_priority", "priority BETWEEN 1 AND 10"),
        ("ck_campaigns_over_budget", "over_budget IN ('defer', 'drop')"),
    ]


def downgrade() -> None:
    # The older code knows neither word: a paused campaign runs again, a cancelled one is done.
    op.execute(sa.text("UPDATE campaigns SET status = 'running' WHERE status = 'paused'"))
    op.execute(sa.text("UPDATE campaigns SET status = 'done' WHERE status = 'cancelled'"))
    if op.get_context().dialect.name != "sqlite":
        for name, _ in reversed(_checks()):
            op.drop_constraint(name, "campaigns", type_="check")
    for column in (
        "cancelled_at",
        "paused_at",
        "html_body_template",
        "over_budget",
        "deadline",
        "priority",
    ):
        op.drop_column("campaigns", column)
