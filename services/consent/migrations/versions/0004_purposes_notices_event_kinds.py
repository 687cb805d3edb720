"""Purposes catalogue, legal basis rules, versioned notices, and the event kinds.

- consent_purposes: the catalogue, seeded with the grouping's seven purposes
  (all marketing, by e-mail and post, kept 36 months).
- consent_basis_rules: the legal basis per purpose x channel x contact kind,
  seeded: a consumer by e-mail needs consent; a business contact at a
  professional address by e-mail accepts legitimate interest.
- consent_notices: published notice versions, append-only like the events.
- consent_events: `action` (grant, withdraw) becomes `kind` (granted, denied,
  withdrawn, objected, expired, revalidated, confirmed), with how, notice_id,
  pending, refers_to, ip and user_agent. Old rows become granted and withdrawn,
  recorded `how` = staff (one_click for the gateway's one-click links).

The events table is rebuilt (new table, rows copied in seq order, old table
dropped, new one renamed): SQLite cannot change a CHECK constraint in place,
and the append-only triggers refuse the UPDATE an in-place change would need.
The triggers are installed again on the new table.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EVENT_CHECKS = {
    "ck_consent_events_kind": (
        "kind IN ('granted', 'denied', 'withdrawn', 'objected', 'expired', 'revalidated',"
        " 'confirmed')"
    ),
    "ck_consent_events_channel": (
        "(channel IN ('email', 'sms', 'phone', 'post')) OR (channel IS NULL AND kind = 'objected')"
    ),
    "ck_consent_events_purpose": (
        "(kind = 'objected' AND purpose IS NULL) OR (kind <> 'objected' AND purpose IS NOT NULL)"
    ),
    "ck_consent_events_scope": (
        "(scope_kind = 'grouping' AND scope_component IS NULL)"
        " OR (scope_kind = 'component' AND scope_component IS NOT NULL AND kind <> 'objected')"
    ),
    "ck_consent_events_legal_basis": (
        "(kind = 'granted' AND legal_basis IN ('consent', 'legitimate_interest', 'contract',"
        " 'legal_obligation')) OR (kind <> 'granted' AND legal_basis IS NULL)"
    ),
    "ck_consent_events_pending": "pending = false OR kind = 'granted'",
    "ck_consent_events_refers_to": (
        "(kind = 'confirmed' AND refers_to IS NOT NULL)"
        " OR (kind <> 'confirmed' AND refers_to IS NULL)"
    ),
    "ck_consent_events_how": (
        "how IN ('web_form', 'import', 'one_click', 'preference_page', 'inbound_mail',"
        " 'phone_agent', 'staff', 'revalidation_job', 'retention_job')"
    ),
    "ck_consent_events_person_made": "how <> 'staff' OR (ip IS NULL AND user_agent IS NULL)",
}
OLD_EVENT_CHECKS = {
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
SEEDED_PURPOSES = [
    ("newsletter", "Lettre d'information", "Newsletter"),
    ("events", "Événements", "Events"),
    ("alumni", "Réseau des diplômés", "Alumni network"),
    ("fundraising", "Mécénat et collecte de fonds", "Fundraising"),
    ("apprenticeship_tax", "Taxe d'apprentissage", "Apprenticeship tax"),
    ("research_partnerships", "Partenariats de recherche", "Research partnerships"),
    ("continuing_education", "Formation continue", "Continuing education"),
]
INDEX = "ix_consent_events_contact_channel_purpose"
KEY_INDEX = "uq_consent_events_withdrawal_key"

# --- append-only triggers ---------------------------------------------------------------------

PG_FUNCTION = """
    CREATE OR REPLACE FUNCTION consent_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
"""


def _pg_triggers(table: str, function: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_update_or_delete BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION {function}()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
    ]


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"""
        for verb in ("UPDATE", "DELETE")
    ]


def _append_only(table: str, pg_function: str) -> None:
    statements = _pg_triggers(table, pg_function) if _is_postgres() else _sqlite_triggers(table)
    for statement in statements:
        op.execute(statement)


def _seq_column() -> sa.Column[int]:
    return sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


# --- upgrade ----------------------------------------------------------------------------------


def upgrade() -> None:
    _create_catalogue()
    _create_notices()
    _rebuild_events()


def _create_catalogue() -> None:
    purposes = op.create_table(
        "consent_purposes",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("owner_component", sa.String(64), nullable=True),
        sa.Column("label_fr", sa.String(200), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        sa.Column("channels", sa.String(64), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("retention_months", sa.Integer(), nullable=False, server_default="36"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("retention_months > 0", name="ck_consent_purposes_retention"),
    )
    rules = op.create_table(
        "consent_basis_rules",
        sa.Column("purpose", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("contact_kind", sa.String(16), primary_key=True),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'phone', 'post')", name="ck_consent_basis_rules_channel"
        ),
        sa.CheckConstraint(
            "contact_kind IN ('consumer', 'business')", name="ck_consent_basis_rules_kind"
        ),
        sa.CheckConstraint(
            "basis IN ('consent', 'legitimate_interest', 'contract', 'legal_obligation')",
            name="ck_consent_basis_rules_basis",
        ),
    )
    assert purposes is not None and rules is not None
    op.bulk_insert(
        purposes,
        [
            {
                "key": key,
                "owner_component": None,
                "label_fr": label_fr,
                "label_en": label_en,
                "channels": "email,post",
                "marketing": True,
                "retention_months": 36,
                "active": True,
            }
            for key, label_fr, label_en in SEEDED_PURPOSES
        ],
    )
    op.bulk_insert(
        rules,
        [
            {"purpose": key, "channel": "email", "contact_kind": kind, "basis": basis}
            for key, _fr, _en in SEEDED_PURPOSES
            for kind, basis in (("consumer", "consent"), ("business", "legitimate_interest"))
        ],
    )


def _create_notices() -> None:
    op.create_table(
        "consent_notices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Text(), nullable=False),
        sa.UniqueConstraint("purpose", "language", "version", name="uq_consent_notices_version"),
        sa.CheckConstraint("language IN ('fr', 'en')", name="ck_consent_notices_language"),
        sa.CheckConstraint("version > 0", name="ck_consent_notices_version"),
    )
    if _is_postgres():
        op.execute(PG_FUNCTION)
    _append_only("consent_notices", "consent_append_only")


def _rebuild_events() -> None:
    op.create_table(
        "consent_events_v4",
        _seq_column(),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope_component", sa.String(64), nullable=True),
        sa.Column("legal_basis", sa.String(32), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("refers_to", sa.String(36), nullable=True),
        sa.Column("notice_id", sa.String(36), nullable=True),
        sa.Column("actor_subject", sa.Text(), nullable=False),
        sa.Column("actor_component", sa.Text(), nullable=True),
        sa.Column("how", sa.String(32), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("text_shown", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawal_key", sa.String(64), nullable=True),
        *(sa.CheckConstraint(sql, name=f"{name}_v4") for name, sql in EVENT_CHECKS.items()),
    )
    op.execute(
        """
        INSERT INTO consent_events_v4 (seq, id, contact_id, kind, channel, purpose, scope_kind,
            scope_component, legal_basis, pending, actor_subject, actor_component, how, source,
            text_shown, recorded_at, withdrawal_key)
        SELECT seq, id, contact_id,
            CASE action WHEN 'grant' THEN 'granted' ELSE 'withdrawn' END,
            channel, purpose, scope_kind, scope_component, legal_basis, false, actor_subject,
            actor_component,
            CASE WHEN actor_subject = 'service:gateway' THEN 'one_click' ELSE 'staff' END,
            source, text_shown, recorded_at, withdrawal_key
        FROM consent_events ORDER BY seq
        """
    )
    _replace_events_table()
    if _is_postgres():
        _rename_pg_constraints(EVENT_CHECKS)
    _append_only("consent_events", "consent_events_append_only")


def _replace_events_table() -> None:
    """Drops the old events table (its triggers and indexes go with it), renames the new one."""
    op.drop_table("consent_events")
    op.rename_table("consent_events_v4", "consent_events")
    op.create_index(INDEX, "consent_events", ["contact_id", "channel", "purpose"])
    op.create_index(KEY_INDEX, "consent_events", ["withdrawal_key"], unique=True)
    if _is_postgres():
        op.execute(
            "SELECT setval(pg_get_serial_sequence('consent_events', 'seq'),"
            " COALESCE((SELECT max(seq) FROM consent_events), 0) + 1, false)"
        )


def _rename_pg_constraints(checks: dict[str, str]) -> None:
    """PostgreSQL keeps constraint names across a table rename: give back the usual ones."""
    for name in checks:
        op.execute(f"ALTER TABLE consent_events RENAME CONSTRAINT {name}_v4 TO {name}")


# --- downgrade --------------------------------------------------------------------------------


def downgrade() -> None:
    """Back to grant/withdraw events: rows of the new kinds (and new bases) are dropped."""
    op.create_table(
        "consent_events_v4",
        _seq_column(),
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
        sa.Column("withdrawal_key", sa.String(64), nullable=True),
        *(sa.CheckConstraint(sql, name=f"{name}_v4") for name, sql in OLD_EVENT_CHECKS.items()),
    )
    op.execute(
        """
        INSERT INTO consent_events_v4 (seq, id, contact_id, channel, purpose, scope_kind,
            scope_component, action, legal_basis, actor_subject, actor_component, source,
            text_shown, recorded_at, withdrawal_key)
        SELECT seq, id, contact_id, channel, purpose, scope_kind, scope_component,
            CASE kind WHEN 'granted' THEN 'grant' ELSE 'withdraw' END, legal_basis,
            actor_subject, actor_component, source, text_shown, recorded_at, withdrawal_key
        FROM consent_events
        WHERE (kind = 'granted' AND NOT pending
               AND legal_basis IN ('consent', 'legitimate_interest'))
           OR kind = 'withdrawn'
        ORDER BY seq
        """
    )
    _replace_events_table()
    if _is_postgres():
        _rename_pg_constraints(OLD_EVENT_CHECKS)
    _append_only("consent_events", "consent_events_append_only")
    op.drop_table("consent_notices")
    if _is_postgres():
        op.execute("DROP FUNCTION IF EXISTS consent_append_only()")
    op.drop_table("consent_basis_rules")
    op.drop_table("consent_purposes")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
