"""Per-component values, field policies, the organisation tree, audit of changes, imports.

Every value of a contact now belongs to the component that wrote it (table
contact_values), instead of one shared core value per contact: a component that
joins a known contact keeps its own values and sees others' only as policy allows.
Existing core values are handed to the contact's first member; attributes become
declared text attributes of their component, and the visibility they were
written with becomes the policy of their field.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CORE_COLUMNS = ("first_name", "last_name", "organisation", "email", "phone", "time_zone")
OWNER = {"audience": "owner"}
# Shared with the whole grouping from the start: who the contact is, where they work.
SEEDED = {
    "display_name": ([{"audience": "grouping"}], []),
    "organisation": ([OWNER, {"audience": "grouping"}], [OWNER]),
}


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _create_tables()
    now = datetime.now(UTC)
    connection = op.get_bind()
    _move_core_values(connection, now)
    _move_attributes(connection, now)
    _seed_policies(connection, now)
    with op.batch_alter_table("sensitive_reads") as batch:
        batch.add_column(sa.Column("owner_component", sa.String(40), nullable=True))
        batch.add_column(sa.Column("route", sa.String(80), nullable=True))
        batch.alter_column("field", type_=sa.String(120))
    connection.execute(
        sa.text(
            "UPDATE sensitive_reads SET owner_component = component, route = 'before-0002',"
            " field = component || '.' || substr(field, 6) WHERE field LIKE 'attr.%'"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE sensitive_reads SET owner_component = component, route = 'before-0002'"
            " WHERE owner_component IS NULL"
        )
    )
    with op.batch_alter_table("sensitive_reads") as batch:
        batch.alter_column("owner_component", nullable=False)
        batch.alter_column("route", nullable=False)
        batch.create_index("ix_sensitive_reads_owner", ["owner_component", "id"])
    op.drop_table("attributes")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_constraint("uq_contacts_email_normalised", type_="unique")
        for column in ("email_normalised", *CORE_COLUMNS):
            batch.drop_column(column)
        batch.create_index("ix_contacts_updated_at", ["updated_at"])


def _create_tables() -> None:
    op.create_table(
        "org_services",
        sa.Column("component_id", sa.String(40), sa.ForeignKey("components.id"), primary_key=True),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "org_levels",
        sa.Column("rank", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
    )
    op.create_table(
        "people",
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("component_id", sa.String(40), sa.ForeignKey("components.id"), nullable=True),
        sa.Column("service_id", sa.String(40), nullable=True),
        sa.Column("level", sa.String(40), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        _timestamp("updated_at"),
    )
    op.create_table(
        "attribute_definitions",
        sa.Column("component_id", sa.String(40), sa.ForeignKey("components.id"), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("label_fr", sa.String(200), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        _timestamp("created_at"),
    )
    op.create_table(
        "field_policies",
        sa.Column("field", sa.String(120), primary_key=True),
        sa.Column("read", sa.JSON(), nullable=False),
        sa.Column("write", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _timestamp("updated_at"),
    )
    op.create_table(
        "field_policy_changes",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("field", sa.String(120), nullable=False, index=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        _timestamp("changed_at"),
    )
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(_timestamp("updated_at", nullable=True))
    op.execute("UPDATE contacts SET updated_at = created_at")
    with op.batch_alter_table("contacts") as batch:
        batch.alter_column("updated_at", nullable=False)
    op.create_table(
        "contact_values",
        sa.Column("contact_id", sa.String(36), sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("field", sa.String(120), primary_key=True),
        sa.Column(
            "owner_component", sa.String(40), sa.ForeignKey("components.id"), primary_key=True
        ),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("number_value", sa.Numeric(), nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _timestamp("updated_at"),
    )
    op.create_index("ix_contact_values_field_value", "contact_values", ["field", "value"])
    op.create_index("ix_contact_values_field_number", "contact_values", ["field", "number_value"])
    op.create_table(
        "contact_addresses",
        sa.Column("address", sa.String(254), primary_key=True),
        sa.Column("contact_id", sa.String(36), sa.ForeignKey("contacts.id"), nullable=False),
    )
    op.create_index("ix_contact_addresses_contact_id", "contact_addresses", ["contact_id"])
    op.create_table(
        "contact_redirects",
        sa.Column("merged_id", sa.String(36), primary_key=True),
        sa.Column("survivor_id", sa.String(36), nullable=False, index=True),
        _timestamp("merged_at"),
    )
    op.create_table(
        "contact_tombstones",
        sa.Column("id", sa.String(36), primary_key=True),
        _timestamp("removed_at"),
    )
    op.create_table(
        "contact_changes",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("contact_id", sa.String(36), nullable=False, index=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("component", sa.String(40), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        _timestamp("at"),
    )
    op.create_table(
        "import_batches",
        sa.Column("component_id", sa.String(40), primary_key=True),
        sa.Column("import_id", sa.String(64), primary_key=True),
        sa.Column("first_line", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        _timestamp("applied_at"),
    )


def _move_core_values(connection: sa.Connection, now: datetime) -> None:
    """Each contact's core values go to its first member component."""
    first_member = {}
    for contact_id, component_id in connection.execute(
        sa.text(
            "SELECT contact_id, component_id FROM memberships ORDER BY created_at, component_id"
        )
    ):
        first_member.setdefault(contact_id, component_id)
    values = []
    addresses = []
    columns = ", ".join(("id", "email_normalised", *CORE_COLUMNS))
    for row in connection.execute(sa.text(f"SELECT {columns} FROM contacts")).mappings():
        owner = first_member.get(row["id"])
        if owner is None:
            continue
        for column in CORE_COLUMNS:
            if row[column]:
                values.append(_value(row["id"], column, owner, row[column], now))
        if row["email_normalised"]:
            addresses.append({"address": row["email_normalised"], "contact_id": row["id"]})
    if values:
        op.bulk_insert(_values_table(), values)
    if addresses:
        op.bulk_insert(
            sa.table("contact_addresses", sa.column("address"), sa.column("contact_id")),
            addresses,
        )


def _move_attributes(connection: sa.Connection, now: datetime) -> None:
    """Attributes become text attributes of their owner; their widest visibility, a policy."""
    rows = connection.execute(
        sa.text("SELECT contact_id, owner_component, key, value, visibility FROM attributes")
    ).all()
    definitions = {(r.owner_component, r.key) for r in rows}
    if definitions:
        op.bulk_insert(
            sa.table(
                "attribute_definitions",
                sa.column("component_id"),
                sa.column("key"),
                sa.column("type"),
                sa.column("choices", sa.JSON()),
                sa.column("label_fr"),
                sa.column("label_en"),
                sa.column("created_at", sa.DateTime(timezone=True)),
            ),
            [
                {
                    "component_id": component,
                    "key": key,
                    "type": "text",
                    "choices": [],
                    "label_fr": key,
                    "label_en": key,
                    "created_at": now,
                }
                for component, key in sorted(definitions)
            ],
        )
        op.bulk_insert(
            _values_table(),
            [_value(r.contact_id, f"{r.owner_component}.{r.key}", r.owner_component, r.value, now)
             for r in rows],
        )  # fmt: skip
    rank = {"owner": 0, "members": 1, "grouping": 2}
    widest: dict[str, str] = {}
    for r in rows:
        field = f"{r.owner_component}.{r.key}"
        widest[field] = max(widest.get(field, "owner"), r.visibility, key=rank.__getitem__)
    shared = {field: v for field, v in widest.items() if v in ("grouping", "members")}
    _insert_policies(
        {field: ([OWNER, {"audience": v}], [OWNER]) for field, v in shared.items()}, now
    )


def _seed_policies(connection: sa.Connection, now: datetime) -> None:
    _insert_policies(SEEDED, now)


def _insert_policies(policies: dict[str, tuple[list, list]], now: datetime) -> None:
    if not policies:
        return
    op.bulk_insert(
        sa.table(
            "field_policies",
            sa.column("field"),
            sa.column("read", sa.JSON()),
            sa.column("write", sa.JSON()),
            sa.column("updated_by"),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        ),
        [
            {"field": f, "read": r, "write": w, "updated_by": "migration:0002", "updated_at": now}
            for f, (r, w) in policies.items()
        ],
    )
    op.bulk_insert(
        sa.table(
            "field_policy_changes",
            sa.column("field"),
            sa.column("before", sa.JSON()),
            sa.column("after", sa.JSON()),
            sa.column("changed_by"),
            sa.column("changed_at", sa.DateTime(timezone=True)),
        ),
        [
            {
                "field": f,
                "before": None,
                "after": {"field": f, "read": r, "write": w},
                "changed_by": "migration:0002",
                "changed_at": now,
            }
            for f, (r, w) in policies.items()
        ],
    )


def _values_table() -> sa.TableClause:
    return sa.table(
        "contact_values",
        sa.column("contact_id"),
        sa.column("field"),
        sa.column("owner_component"),
        sa.column("value"),
        sa.column("number_value"),
        sa.column("updated_by"),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )


def _value(contact_id: str, field: str, owner: str, value: str, now: datetime) -> dict:
    return {
        "contact_id": contact_id,
        "field": field,
        "owner_component": owner,
        "value": value,
        "number_value": None,
        "updated_by": "migration:0002",
        "updated_at": now,
    }


def downgrade() -> None:
    raise NotImplementedError("0002 moves values to their owners; restore a backup instead")
