"""Tables of the contacts service (its own schema; no other service reads them)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meshkit.db import UtcDateTime
from services.contacts.policy import DEFAULT_TIME_ZONE


def utcnow() -> datetime:
    """The current time, timezone-aware, as every timestamp column stores it."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ComponentRow(Base):
    __tablename__ = "components"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ContactRow(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'company')", name="ck_contacts_kind"),
        UniqueConstraint("email_normalised", name="uq_contacts_email_normalised"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    email_normalised: Mapped[str | None] = mapped_column(String(254))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    time_zone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIME_ZONE, server_default=DEFAULT_TIME_ZONE
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MembershipRow(Base):
    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_component_contact", "component_id", "contact_id"),)

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AttributeRow(Base):
    __tablename__ = "attributes"
    __table_args__ = (
        CheckConstraint(
            "visibility IN ('grouping', 'members', 'owner')", name="ck_attributes_visibility"
        ),
    )

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    owner_component: Mapped[str] = mapped_column(ForeignKey("components.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SensitiveReadRow(Base):
    """One owner-only field shown to one caller: the audit trail of sensitive reads."""

    __tablename__ = "sensitive_reads"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subject: Mapped[str] = mapped_column(Text)
    component: Mapped[str] = mapped_column(String(40))
    contact_id: Mapped[str] = mapped_column(String(36), index=True)
    field: Mapped[str] = mapped_column(String(80))
    read_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
