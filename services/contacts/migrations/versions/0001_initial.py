"""Components, contacts, memberships, per-component attributes, audit of sensitive reads.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Hand-written so that it runs the same on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        _timestamp("created_at"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("email_normalised", sa.String(254), nullable=True),
        sa.Column("first_name", sa.String(200), nullable=True),
        sa.Column("last_name", sa.String(200), nullable=True),
        sa.Column("organisation", sa.String(200), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="Europe/Paris"),
        _timestamp("created_at"),
        sa.CheckConstraint("kind IN ('person', 'company')", name="ck_contacts_kind"),
        sa.UniqueConstraint("email_normalised", name="uq_contacts_email_normalised"),
    )
    op.create_table(
        "memberships",
        sa.Column("contact_id", sa.String(36), sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("component_id", sa.String(40), sa.ForeignKey("components.id"), primary_key=True),
        _timestamp("created_at"),
    )
    op.create_index(
        "ix_memberships_component_contact", "memberships", ["component_id", "contact_id"]
    )
    op.create_table(
        "attributes",
        sa.Column("contact_id", sa.String(36), sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column(
            "owner_component", sa.String(40), sa.ForeignKey("components.id"), primary_key=True
        ),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "visibility IN ('grouping', 'members', 'owner')", name="ck_attributes_visibility"
        ),
    )
    op.create_table(
        "sensitive_reads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("component", sa.String(40), nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("field", sa.String(80), nullable=False),
        _timestamp("read_at"),
    )
    op.create_index("ix_sensitive_reads_contact_id", "sensitive_reads", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_sensitive_reads_contact_id", "sensitive_reads")
    op.drop_table("sensitive_reads")
    op.drop_table("attributes")
    op.drop_index("ix_memberships_component_contact", "memberships")
    op.drop_table("memberships")
    op.drop_table("contacts")
    op.drop_table("components")
