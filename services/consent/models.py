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


# --- Privacy requests (see privacy_policy.py and migration 0006) ---------------------------


class PrivacyRequestRow(Base):
    """One access, erasure or rectification request and where it stands.

    `contact_id` is cleared once the contact is erased; `contact_digest` stays, so
    the holder of the contacts tombstone can still find the request.
    `rectification` holds the values to forward until contacts took them.
    """

    __tablename__ = "consent_privacy_requests"
    __table_args__ = (Index("ix_consent_privacy_requests_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[str | None] = mapped_column(String(64))
    contact_digest: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deadline: Mapped[datetime] = mapped_column(UtcDateTime)
    opened_by: Mapped[str] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rectification: Mapped[str | None] = mapped_column(Text)


class PrivacyStepRow(Base):
    """One part of the mesh a request waits for; `result` is that part of an access export."""

    __tablename__ = "consent_privacy_steps"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    part: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(Text)


class PrivacyAuditRow(Base):
    """Who did what to a request, when: ids, names of steps and outcome codes, never values."""

    __tablename__ = "consent_privacy_audit"

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    part: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(64))
