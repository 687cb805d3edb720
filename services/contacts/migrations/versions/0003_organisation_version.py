"""A change counter of the organisation tree and field policies, for cached reads.

Every write to the tree (components, services, levels, people) or to the field
policies bumps `organisation_version` in its own transaction, so each replica
keeps the tree and the rules in memory and reads only this one row per call to
know whether they are still current. Triggers do the counting, so that no writer
can forget it: not the service's code, not an operator's SQL.

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


COUNTED = ("components", "org_services", "org_levels", "people", "field_policies")
BUMP = "UPDATE organisation_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    table = op.create_table(
        "organisation_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_organisation_version_one_row"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_organisation_version() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for name in COUNTED:
            op.execute(
                f"CREATE TRIGGER {name}_count_changes"
                f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name}"
                " FOR EACH STATEMENT EXECUTE FUNCTION bump_organisation_version()"
            )
        return
    for name in COUNTED:  # SQLite: row triggers, one per kind of write
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {name}_count_{event.lower()}s AFTER {event} ON {name}"
                f" BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in COUNTED:
        if postgres:
            op.execute(f"DROP TRIGGER {name}_count_changes ON {name}")
        else:
            for event in ("inserts", "updates", "deletes"):
                op.execute(f"DROP TRIGGER {name}_count_{event}")
    if postgres:
        op.execute("DROP FUNCTION bump_organisation_version()")
    op.drop_table("organisation_version")
