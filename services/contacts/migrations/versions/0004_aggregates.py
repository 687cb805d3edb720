"""Indicators: the "aggregate" right, dimensions, disclosure rules and the query auditor.

`field_policies.aggregate` lists the grants that allow using a field in aggregates only
(existing policies grant nothing more: []); `aggregate_dimensions` the admin's dimensions;
`disclosure_rules` one row with k, p and the minimum of components (absent: 5, 80, 2);
`aggregate_audit` one sketch per published cell, per caller, for the differencing auditor.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("field_policies") as batch:
        batch.add_column(
            sa.Column("aggregate", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_table(
        "aggregate_dimensions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("label_fr", sa.String(200), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("field", sa.String(120), nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _timestamp("updated_at"),
    )
    op.create_table(
        "disclosure_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("p", sa.Integer(), nullable=False),
        sa.Column("min_components", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _timestamp("updated_at"),
        sa.CheckConstraint("id = 1", name="ck_disclosure_rules_one_row"),
    )
    op.create_table(
        "aggregate_audit",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("holder", sa.String(240), nullable=False),
        sa.Column("measure", sa.String(120), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("contacts", sa.BigInteger(), nullable=False),
        sa.Column("sums", sa.JSON(), nullable=False),
        _timestamp("at"),
    )
    op.create_index(
        "ix_aggregate_audit_holder_size", "aggregate_audit", ["holder", "measure", "contacts"]
    )
    op.create_index("ix_aggregate_audit_at", "aggregate_audit", ["at"])


def downgrade() -> None:
    op.drop_table("aggregate_audit")
    op.drop_table("disclosure_rules")
    op.drop_table("aggregate_dimensions")
    with op.batch_alter_table("field_policies") as batch:
        batch.drop_column("aggregate")
