"""Tables of the contacts service (its own schema; no other service reads them)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meshkit.db import UtcDateTime

AUTO_ID = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware, as every timestamp column stores it."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


# --- Organisation tree ---------------------------------------------------------------


class ComponentRow(Base):
    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OrgServiceRow(Base):
    """A service inside a component (alumni office, corporate relations...)."""

    __tablename__ = "org_services"

    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class LevelRow(Base):
    """One hierarchy level; a higher rank is a higher level."""

    __tablename__ = "org_levels"

    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)


class PersonRow(Base):
    """A person of the grouping: where they sit in the tree and their roles."""

    __tablename__ = "people"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    component_id: Mapped[str | None] = mapped_column(ForeignKey("components.id"))
    service_id: Mapped[str | None] = mapped_column(String(40))
    level: Mapped[str | None] = mapped_column(String(40))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OrganisationVersionRow(Base):
    """One row: triggers bump it at every write to the tree or the field policies."""

    __tablename__ = "organisation_version"
    __table_args__ = (CheckConstraint("id = 1", name="ck_organisation_version_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


# The tables whose every write bumps organisation_version (migration 0003 made the same).
COUNTED_TABLES = ("components", "org_services", "org_levels", "people", "field_policies")
_BUMP = "UPDATE organisation_version SET version = version + 1 WHERE id = 1"


def organisation_counter_ddl(dialect: str) -> list[str]:
    """The statements that seed organisation_version and make every counted write bump it."""
    statements = ["INSERT INTO organisation_version (id, version) VALUES (1, 1)"]
    if dialect == "postgresql":
        statements.append(
            "CREATE FUNCTION bump_organisation_version() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        statements += [
            f"CREATE TRIGGER {name}_count_changes"
            f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name}"
            " FOR EACH STATEMENT EXECUTE FUNCTION bump_organisation_version()"
            for name in COUNTED_TABLES
        ]
        return statements
    return statements + [  # SQLite: row triggers, one per kind of write
        f"CREATE TRIGGER {name}_count_{event.lower()}s AFTER {event} ON {name} BEGIN {_BUMP}; END"
        for name in COUNTED_TABLES
        for event in ("INSERT", "UPDATE", "DELETE")
    ]


@event.listens_for(Base.metadata, "after_create")
def _count_organisation_changes(target: Any, connection: Any, **kw: Any) -> None:
    # Databases made by create_all (tests, tools) count changes as migrated ones do.
    if OrganisationVersionRow.__table__ not in kw.get("tables", ()):
        return  # already there (create_all skips existing tables)
    for statement in organisation_counter_ddl(connection.dialect.name):
        connection.execute(text(statement))


# --- Catalogue and policies ----------------------------------------------------------


class AttributeDefinitionRow(Base):
    """An attribute a component declared; its field id is `<component_id>.<key>`."""

    __tablename__ = "attribute_definitions"

    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    label_fr: Mapped[str] = mapped_column(String(200), default="")
    label_en: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FieldPolicyRow(Base):
    """The policy in force for one field: lists of grants, as JSON."""

    __tablename__ = "field_policies"

    field: Mapped[str] = mapped_column(String(120), primary_key=True)
    read: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    write: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # use in aggregates only (migration 0004); older rows hold []
    aggregate: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FieldPolicyChangeRow(Base):
    """History of field policies: appended on every change, never updated."""

    __tablename__ = "field_policy_changes"

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    field: Mapped[str] = mapped_column(String(120), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- Indicators (aggregates under disclosure control) --------------------------------


class AggregateDimensionRow(Base):
    """A dimension aggregates may be grouped by (admin-defined)."""

    __tablename__ = "aggregate_dimensions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    label_fr: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # field, year, kind, component
    field: Mapped[str | None] = mapped_column(String(120))  # with field and year
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DisclosureRulesRow(Base):
    """One row: the publication rules in force (absent: the defaults)."""

    __tablename__ = "disclosure_rules"
    __table_args__ = (CheckConstraint("id = 1", name="ck_disclosure_rules_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    k: Mapped[int] = mapped_column(Integer)
    p: Mapped[int] = mapped_column(Integer)
    min_components: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AggregateAuditRow(Base):
    """One published cell of an answer, for the query auditor: a sketch, never a contact id.

    `holder` is the caller's component (colleagues share answers), or `subject:<sub>` for a
    caller without one; `sums` the cell's power sums of keyed contact hashes.
    """

    __tablename__ = "aggregate_audit"
    __table_args__ = (
        Index("ix_aggregate_audit_holder_size", "holder", "measure", "contacts"),
        Index("ix_aggregate_audit_at", "at"),
    )

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    holder: Mapped[str] = mapped_column(String(240))
    measure: Mapped[str] = mapped_column(String(120))
    query: Mapped[str] = mapped_column(Text)
    contacts: Mapped[int] = mapped_column(BigInteger)
    sums: Mapped[list[int]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- Contacts ------------------------------------------------------------------------


class ContactRow(Base):
    __tablename__ = "contacts"
    __table_args__ = (CheckConstraint("kind IN ('person', 'company')", name="ck_contacts_kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class ValueRow(Base):
    """One value of one field of a contact, held by the component that wrote it."""

    __tablename__ = "contact_values"
    __table_args__ = (
        Index("ix_contact_values_field_value", "field", "value"),
        Index("ix_contact_values_field_number", "field", "number_value"),
    )

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    field: Mapped[str] = mapped_column(String(120), primary_key=True)
    owner_component: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    number_value: Mapped[Decimal | None] = mapped_column(Numeric)  # numbers, for ranges
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AddressRow(Base):
    """A normalised email address and the one contact it belongs to (the join key)."""

    __tablename__ = "contact_addresses"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)


class MembershipRow(Base):
    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_component_contact", "component_id", "contact_id"),)

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RedirectRow(Base):
    """A merged-away id and the contact that survived it."""

    __tablename__ = "contact_redirects"

    merged_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survivor_id: Mapped[str] = mapped_column(String(36), index=True)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TombstoneRow(Base):
    """An id that was erased or deleted: nothing else about it remains."""

    __tablename__ = "contact_tombstones"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    removed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- Audit ---------------------------------------------------------------------------


class ChangeRow(Base):
    """Who changed a contact, how, which fields (never the values), when."""

    __tablename__ = "contact_changes"

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    component: Mapped[str | None] = mapped_column(String(40))
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # merge conflicts, for the DPO
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SensitiveReadRow(Base):
    """One protected value shown to one caller: the audit trail of sensitive reads."""

    __tablename__ = "sensitive_reads"
    __table_args__ = (Index("ix_sensitive_reads_owner", "owner_component", "id"),)

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(Text)
    component: Mapped[str] = mapped_column(String(40))
    contact_id: Mapped[str] = mapped_column(String(36), index=True)
    field: Mapped[str] = mapped_column(String(120))
    owner_component: Mapped[str] = mapped_column(String(40))
    route: Mapped[str] = mapped_column(String(80))
    read_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- Imports -------------------------------------------------------------------------


class ImportBatchRow(Base):
    """One applied batch of an import, with its per-row report (for replays and resumes)."""

    __tablename__ = "import_batches"

    component_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    import_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_line: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_line: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(200))
    report: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
