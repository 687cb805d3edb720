"""The consent mail outbox, the job run keys, and events that refer to a retention cycle.

- consent_outbox: work that must leave consent once its event is committed (a
  confirmation or revalidation mail through campaigns, an objector's addresses to
  put on, or take off, the suppression list). Written in the same transaction as
  the event; one row per idempotency key, which is also the key campaigns'
  SendTransactional receives, so a crash between the send and the mark never
  sends twice.
- consent_job_runs: the run keys of consent's scheduled jobs (meshkit.scheduling).
- consent_events: a `revalidated` event refers to the event whose retention cycle
  it renews, and an `expired` one to the event whose cycle lapsed, as a
  `confirmed` one refers to its pending grant. PostgreSQL changes the CHECK in
  place; SQLite cannot, so its table is rebuilt (rows copied in seq order) and
  its append-only triggers (0004, 0006) installed again.

Revision ID: 0007
Revises: 0006
Create Date: 2025-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHECK = "ck_consent_events_refers_to"
REFERS_TO = (
    "(kind IN ('confirmed', 'revalidated') AND refers_to IS NOT NULL)"
    " OR kind = 'expired'"
    " OR (kind NOT IN ('confirmed', 'revalidated', 'expired') AND refers_to IS NULL)"
)
OLD_REFERS_TO = (
    "(kind = 'confirmed' AND refers_to IS NOT NULL) OR (kind <> 'confirmed' AND refers_to IS NULL)"
)
REFUSAL = "consent_events is append-only"
SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}: UPDATE refused'); END""",
    f"""CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
    WHEN NOT EXISTS (SELECT 1 FROM consent_erasure_gate)
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}: DELETE refused'); END""",
)


def upgrade() -> None:
    op.create_table(
        "consent_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("component_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("link_kind", sa.String(16), nullable=False, server_default=""),
        sa.Column("link_ref", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_outcome", sa.String(64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('consent_confirmation', 'consent_revalidation', 'suppress_objection',"
            " 'lift_objection')",
            name="ck_consent_outbox_kind",
        ),
    )
    op.create_index("ix_consent_outbox_due", "consent_outbox", ["sent_at", "next_attempt_at"])
    op.create_table(
        "consent_job_runs",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("run_key", sa.String(200), primary_key=True),
        sa.Column("ran_by", sa.String(200), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
    )
    _replace_refers_to_check(REFERS_TO)


def downgrade() -> None:
    """Back to 0006; refused while an event refers to a retention cycle."""
    _replace_refers_to_check(OLD_REFERS_TO)
    op.drop_table("consent_job_runs")
    op.drop_index("ix_consent_outbox_due", table_name="consent_outbox")
    op.drop_table("consent_outbox")


def _replace_refers_to_check(sql: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE consent_events DROP CONSTRAINT {CHECK}")
        op.execute(f"ALTER TABLE consent_events ADD CONSTRAINT {CHECK} CHECK ({sql})")
        return
    # SQLite: the table is rebuilt by batch mode; its triggers go with the old table.
    # 0004 built the table as consent_events_v4: SQLite kept that suffix on its CHECKs.
    names = {c["name"] for c in sa.inspect(op.get_bind()).get_check_constraints("consent_events")}
    with op.batch_alter_table("consent_events", recreate="always") as batch:
        for name in (CHECK, f"{CHECK}_v4"):
            if name in names:
                batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(CHECK, sql)
    for trigger in SQLITE_TRIGGERS:
        op.execute(trigger)
