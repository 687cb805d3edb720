"""consent_events, append-only: the database itself refuses UPDATE and DELETE.

Revision ID: 0001
Revises:
Create Date: 2024-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

REFUSAL = "consent_events is append-only"

CHECKS = {
    "ck_consent_events_channel": "channel IN ('email', 'sms', 'phone', 'post')",
    "ck_consent_events_action": "action IN ('grant', 'withdraw')",
    "ck_consent_events_scope": (
        "(scope_kind = 'grouping' AND scope_component IS NULL)"
        " OR (scope_kind = 'component' AND scope_component IS NOT NULL)"
    ),
    "ck_consent_events_legal_basis": (
        "(action = 'grant' AND legal_basis IN ('consent', 'legitimate_interest'))"
        " OR (action = 'withdraw' AND legal_basis IS NULL)"
    ),
}

POSTGRES_UP = [
    f"""
    CREATE FUNCTION consent_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER consent_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()
    """,
    """
    CREATE TRIGGER consent_events_no_truncate
    BEFORE TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION consent_events_append_only()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS consent_events_no_truncate ON consent_events",
    "DROP TRIGGER IF EXISTS consent_events_no_update_or_delete ON consent_events",
    "DROP FUNCTION IF EXISTS consent_events_append_only()",
]
SQLITE_UP = [
    f"""
    CREATE TRIGGER consent_events_no_{verb.lower()}
    BEFORE {verb} ON consent_events
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {verb} refused'); END
    """
    for verb in ("UPDATE", "DELETE")
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS consent_events_no_update",
    "DROP TRIGGER IF EXISTS consent_events_no_delete",
]


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope_component", sa.String(64), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("legal_basis", sa.String(32), nullable=True),
        sa.Column("actor_subject", sa.Text(), nullable=False),
        sa.Column("actor_component", sa.Text(), nullable=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("text_shown", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        *(sa.CheckConstraint(sql, name=name) for name, sql in CHECKS.items()),
    )
    op.create_index(
        "ix_consent_events_contact_channel_purpose",
        "consent_events",
        ["contact_id", "channel", "purpose"],
    )
    for statement in POSTGRES_UP if _is_postgres() else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRES_DOWN if _is_postgres() else SQLITE_DOWN:
        op.execute(statement)
    op.drop_index("ix_consent_events_contact_channel_purpose", table_name="consent_events")
    op.drop_table("consent_events")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
