"""The pressure policy, versioned and append-only.

campaigns_pressure_policy_versions holds every version an admin wrote (the
whole policy as a JSON document, who, when, why). A change is a new row; no
row is ever updated or deleted: triggers refuse UPDATE and DELETE (and
TRUNCATE on PostgreSQL), like consent's notices. With no row, the settings'
single grouping rule is in force (version 0).

Revision ID: 0007
Revises: 0006
Create Date: 2025-03-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels = None
depends_on = None

TABLE = "campaigns_pressure_policy_versions"
FUNCTION = "campaigns_pressure_policy_append_only"

PG_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
"""
PG_TRIGGERS = [
    f"""CREATE TRIGGER {TABLE}_no_update_or_delete BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()""",
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()""",
]
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {verb} refused'); END"""
    for verb in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.CheckConstraint("version > 0", name="ck_pressure_policy_version"),
    )
    op.create_index(f"ix_{TABLE}_changed_at", TABLE, ["changed_at"])
    if _is_postgres():
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    op.drop_table(TABLE)  # its triggers go with it
    if _is_postgres():
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
