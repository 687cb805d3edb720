"""The consent tables: append-only events (the total order is `seq`), the purposes
catalogue, the basis rules, the notices (never updated) and merged-contact aliases."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meshkit.db import UtcDateTime
from meshkit.scheduling import job_runs_table
from services.consent.domain import (
    BasisRule,
    Channel,
    ConsentEvent,
    ContactKind,
    EventKind,
    How,
    Language,
    LegalBasis,
    Notice,
    Purpose,
    Scope,
)

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


def _among(column: str, values: Iterable[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


# The same checks migration 0004 installs: a row that breaks one is not a consent record.
CHECKS = {
    "ck_consent_events_kind": _among("kind", EventKind),
    "ck_consent_events_channel": (
        f"({_among('channel', Channel)}) OR (channel IS NULL AND kind = 'objected')"
    ),
    "ck_consent_events_purpose": (
        "(kind = 'objected' AND purpose IS NULL) OR (kind <> 'objected' AND purpose IS NOT NULL)"
    ),
    "ck_consent_events_scope": (
        "(scope_kind = 'grouping' AND scope_component IS NULL)"
        " OR (scope_kind = 'component' AND scope_component IS NOT NULL AND kind <> 'objected')"
    ),
    "ck_consent_events_legal_basis": (
        f"(kind = 'granted' AND {_among('legal_basis', LegalBasis)})"
        " OR (kind <> 'granted' AND legal_basis IS NULL)"
    ),
    "ck_consent_events_pending": "pending = false OR kind = 'granted'",
    # Migration 0007: a revalidation or an expiry names the cycle it renews or ends.
    "ck_consent_events_refers_to": (
        "(kind IN ('confirmed', 'revalidated') AND refers_to IS NOT NULL)"
        " OR kind = 'expired'"
        " OR (kind NOT IN ('confirmed', 'revalidated', 'expired') AND refers_to IS NULL)"
    ),
    "ck_consent_events_how": _among("how", How),
    "ck_consent_events_person_made": "how <> 'staff' OR (ip IS NULL AND user_agent IS NULL)",
}
PURPOSE_CHECKS = {
    "ck_consent_purposes_retention": "retention_months > 0",
}
RULE_CHECKS = {
    "ck_consent_basis_rules_channel": _among("channel", Channel),
    "ck_consent_basis_rules_kind": _among("contact_kind", ContactKind),
    "ck_consent_basis_rules_basis": _among("basis", LegalBasis),
}
NOTICE_CHECKS = {
    "ck_consent_notices_language": _among("language", Language),
    "ck_consent_notices_version": "version > 0",
}


class Base(DeclarativeBase):
    pass


class ConsentEventRow(Base):
    """One consent event; the database refuses UPDATE and DELETE (see migration 0004)."""

    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_contact_channel_purpose", "contact_id", "channel", "purpose"),
        Index("uq_consent_events_withdrawal_key", "withdrawal_key", unique=True),
        *(CheckConstraint(sql, name=name) for name, sql in CHECKS.items()),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    contact_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(64))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_component: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    refers_to: Mapped[str | None] = mapped_column(String(36))
    notice_id: Mapped[str | None] = mapped_column(String(36))
    actor_subject: Mapped[str] = mapped_column(Text)
    actor_component: Mapped[str | None] = mapped_column(Text)
    how: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    text_shown: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Withdrawals and objections only (see policy.repeat_key): unique, so that two
    # concurrent repeats of one act write one event. NULL otherwise, never shown.
    withdrawal_key: Mapped[str | None] = mapped_column(String(64))


def event_of(row: ConsentEventRow) -> ConsentEvent:
    """The domain event a stored row records."""
    return ConsentEvent(
        seq=row.seq,
        id=row.id,
        contact_id=row.contact_id,
        kind=EventKind(row.kind),
        channel=Channel(row.channel) if row.channel else None,
        purpose=row.purpose,
        scope=Scope(row.scope_component) if row.scope_kind == "component" else Scope.grouping(),
        legal_basis=LegalBasis(row.legal_basis) if row.legal_basis else None,
        actor_subject=row.actor_subject,
        actor_component=row.actor_component,
        source=row.source,
        text_shown=row.text_shown,
        recorded_at=row.recorded_at,
        how=How(row.how),
        notice_id=row.notice_id,
        pending=bool(row.pending),
        refers_to=row.refers_to,
        ip=row.ip,
        user_agent=row.user_agent,
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


class PurposeRow(Base):
    """One purpose of the catalogue; `channels` is a sorted comma-separated list."""

    __tablename__ = "consent_purposes"
    __table_args__ = tuple(CheckConstraint(sql, name=name) for name, sql in PURPOSE_CHECKS.items())

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_component: Mapped[str | None] = mapped_column(String(64))
    label_fr: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    channels: Mapped[str] = mapped_column(String(64))
    marketing: Mapped[bool] = mapped_column(Boolean)
    retention_months: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)


def purpose_of(row: PurposeRow) -> Purpose:
    return Purpose(
        key=row.key,
        owner=row.owner_component,
        label_fr=row.label_fr,
        label_en=row.label_en,
        channels=frozenset(Channel(c) for c in row.channels.split(",") if c),
        marketing=bool(row.marketing),
        retention_months=row.retention_months,
        active=bool(row.active),
    )


def channels_text(channels: frozenset[Channel]) -> str:
    return ",".join(sorted(c.value for c in channels))


class BasisRuleRow(Base):
    """The legal basis of a purpose for one channel and kind of contact."""

    __tablename__ = "consent_basis_rules"
    __table_args__ = tuple(CheckConstraint(sql, name=name) for name, sql in RULE_CHECKS.items())

    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    contact_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    basis: Mapped[str] = mapped_column(String(32))


def rule_of(row: BasisRuleRow) -> BasisRule:
    return BasisRule(
        row.purpose, Channel(row.channel), ContactKind(row.contact_kind), LegalBasis(row.basis)
    )


class NoticeRow(Base):
    """One published notice version; the database refuses UPDATE and DELETE (migration 0004)."""

    __tablename__ = "consent_notices"
    __table_args__ = (
        UniqueConstraint("purpose", "language", "version", name="uq_consent_notices_version"),
        *(CheckConstraint(sql, name=name) for name, sql in NOTICE_CHECKS.items()),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published_by: Mapped[str] = mapped_column(Text)


def notice_of(row: NoticeRow) -> Notice:
    return Notice(
        row.id,
        row.purpose,
        Language(row.language),
        row.version,
        row.text,
        row.published_at,
        row.published_by,
    )


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


# --- Mail outbox and job run keys (see outbox.py and migration 0007) -----------------------

OUTBOX_KIND_CHECK = (
    "kind IN ('consent_confirmation', 'consent_revalidation', 'suppress_objection',"
    " 'lift_objection')"
)


class OutboxRow(Base):
    """Work owed once an event is committed: a mail through campaigns, or a suppression
    change. The idempotency key is the one campaigns receives: never sent twice."""

    __tablename__ = "consent_outbox"
    __table_args__ = (
        CheckConstraint(OUTBOX_KIND_CHECK, name="ck_consent_outbox_kind"),
        Index("ix_consent_outbox_due", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[str] = mapped_column(String(64))
    component_id: Mapped[str] = mapped_column(String(64), default="")
    link_kind: Mapped[str] = mapped_column(String(16), default="")
    link_ref: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(64))


JOB_RUNS = job_runs_table(Base.metadata, "consent")
