"""The consent_events table: append-only, the total order is `seq`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meshkit.db import UtcDateTime
from services.consent.domain import Action, Channel, ConsentEvent, LegalBasis, Scope

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


# The same checks the migration installs: a row that breaks one is not a consent record.
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


class Base(DeclarativeBase):
    pass


class ConsentEventRow(Base):
    """One consent event; the database refuses UPDATE and DELETE (see migration 0001)."""

    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_contact_channel_purpose", "contact_id", "channel", "purpose"),
        Index("uq_consent_events_withdrawal_key", "withdrawal_key", unique=True),
        *(CheckConstraint(sql, name=name) for name, sql in CHECKS.items()),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    contact_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(64))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_component: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    actor_subject: Mapped[str] = mapped_column(Text)
    actor_component: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(100))
    text_shown: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Withdrawals only (see policy.withdrawal_key): unique, so that two concurrent
    # repeats of one withdrawal write one event. NULL for grants, never shown.
    withdrawal_key: Mapped[str | None] = mapped_column(String(64))


def event_of(row: ConsentEventRow) -> ConsentEvent:
    """The domain event a stored row records."""
    recorded_at = row.recorded_at
    return ConsentEvent(
        seq=row.seq,
        id=row.id,
        contact_id=row.contact_id,
        channel=Channel(row.channel),
        purpose=row.purpose,
        scope=Scope(row.scope_component) if row.scope_kind == "component" else Scope.grouping(),
        action=Action(row.action),
        legal_basis=LegalBasis(row.legal_basis) if row.legal_basis else None,
        actor_subject=row.actor_subject,
        actor_component=row.actor_component,
        source=row.source,
        text_shown=row.text_shown,
        recorded_at=recorded_at,
    )


class ContactAliasRow(Base):
    """A contact id merged into another one in contacts (see migration 0003).

    Events stay as recorded, under the id they were recorded for; the alias makes
    decisions read both ids' events. `merge_seq` is the last event seq at the
    merge: events up to it are the two records' histories, combined strictest first.
    """

    __tablename__ = "consent_contact_aliases"

    merged_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    survivor_id: Mapped[str] = mapped_column(String(64), index=True)
    merge_seq: Mapped[int] = mapped_column(BigInteger)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- Suppression list (migration 0005) -----------------------------------------------------

SUPPRESSION_REASON_CHECK = "reason IN ('objected', 'erased', 'bounced', 'manual')"


class SuppressionRow(Base):
    """One suppressed address, as its keyed hash only: no address, no contact id."""

    __tablename__ = "consent_suppressions"
    __table_args__ = (
        CheckConstraint(SUPPRESSION_REASON_CHECK, name="ck_consent_suppressions_reason"),
    )

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
