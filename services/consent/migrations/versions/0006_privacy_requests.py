"""Privacy requests (access, erasure, rectification), their steps and audit; and the one
controlled path by which an erasure deletes a contact's consent events.

consent_events stays append-only for everyone else. On PostgreSQL the trigger lets a
DELETE through only in a transaction that set `crm.erasure` to `on` locally
(`set_config('crm.erasure', 'on', true)`); SQLite has no such settings, so its trigger
lets a DELETE through only while `consent_erasure_gate` holds a row, which an erasure
inserts and removes inside its own transaction. UPDATE and TRUNCATE stay refused.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REFUSAL = "consent_events is append-only"

POSTGRES_FUNCTION = """
    CREATE OR REPLACE FUNCTION consent_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND current_setting('crm.erasure', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION '{refusal}: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
"""
SQLITE_DELETE_TRIGGER = f"""
    CREATE TRIGGER consent_events_no_delete
    BEFORE DELETE ON consent_events
    WHEN NOT EXISTS (SELECT 1 FROM consent_erasure_gate)
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}: DELETE refused'); END
"""
SQLITE_STRICT_DELETE_TRIGGER = f"""
    CREATE TRIGGER consent_events_no_delete
    BEFORE DELETE ON consent_events
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}: DELETE refused'); END
"""
POSTGRES_STRICT_FUNCTION = """
    CREATE OR REPLACE FUNCTION consent_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{refusal}: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
"""


def upgrade() -> None:
    op.create_table(
        "consent_privacy_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("contact_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rectification", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('access', 'erasure', 'rectification')",
            name="ck_consent_privacy_requests_kind",
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'done', 'failed')",
            name="ck_consent_privacy_requests_status",
        ),
    )
    op.create_index(
        "ix_consent_privacy_requests_due",
        "consent_privacy_requests",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_consent_privacy_requests_contact_digest",
        "consent_privacy_requests",
        ["contact_digest"],
    )
    op.create_table(
        "consent_privacy_steps",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("part", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(64), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["consent_privacy_requests.id"]),
    )
    op.create_table(
        "consent_privacy_audit",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("part", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=True),
    )
    op.create_index("ix_consent_privacy_audit_request_id", "consent_privacy_audit", ["request_id"])
    if _is_postgres():
        op.execute(POSTGRES_FUNCTION.format(refusal=REFUSAL))
    else:
        op.create_table("consent_erasure_gate", sa.Column("open", sa.Integer(), primary_key=True))
        op.execute("DROP TRIGGER IF EXISTS consent_events_no_delete")
        op.execute(SQLITE_DELETE_TRIGGER)


def downgrade() -> None:
    if _is_postgres():
        op.execute(POSTGRES_STRICT_FUNCTION.format(refusal=REFUSAL))
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_events_no_delete")
        op.execute(SQLITE_STRICT_DELETE_TRIGGER)
        op.drop_table("consent_erasure_gate")
    op.drop_index("ix_consent_privacy_audit_request_id", table_name="consent_privacy_audit")
    op.drop_table("consent_privacy_audit")
    op.drop_table("consent_privacy_steps")
    op.drop_index(
        "ix_consent_privacy_requests_contact_digest", table_name="consent_privacy_requests"
    )
    op.drop_index("ix_consent_privacy_requests_due", table_name="consent_privacy_requests")
    op.drop_table("consent_privacy_requests")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
