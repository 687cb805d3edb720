"""A change counter of the organisation tree and field policies, for cached reads.

Every write to the tree (components, services, levels, people) or to the field
policies bumps `organisation_version` in its own transaction, so each replica
keeps the tree and the rules in memory and reads only this one row per call to
know whether they are still current.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "organisation_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_organisation_version_one_row"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])


def downgrade() -> None:
    op.drop_table("organisation_version")
