"""Tables of the campaigns service: campaigns, the delivery ledger, job runs, contact aliases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meshkit.db import UtcDateTime
from meshkit.scheduling import job_runs_table
from services.campaigns.lifecycle import CampaignStatus

# SQLite only auto-increments an INTEGER PRIMARY KEY.
LedgerId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s.value}'" for s in CampaignStatus)),
            name="ck_campaigns_status",
        ),
        CheckConstraint("priority BETWEEN 1 AND 10", name="ck_campaigns_priority"),
        CheckConstraint("over_budget IN ('defer', 'drop')", name="ck_campaigns_over_budget"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_component: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    subject_template: Mapped[str] = mapped_column(Text)
    body_template: Mapped[str] = mapped_column(Text)
    audience_kind: Mapped[str] = mapped_column(String(20))  # contact_ids | all_of_component
    audience_ids: Mapped[list[str]] = mapped_column(JSON)
    # A services/campaigns/lifecycle.py CampaignStatus word (a CHECK lists them).
    status: Mapped[str] = mapped_column(String(16), index=True)
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # 1..10: of two campaigns after a contact's last slot, the higher one wins.
    priority: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    # A recipient not reached by then is `expired` (None: no deadline).
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # defer | drop (services/campaigns/validation.py OverBudget)
    over_budget: Mapped[str] = mapped_column(String(8), default="defer", server_default="defer")
    html_body_template: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the last pause
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Delivery(Base):
    """The ledger: one row per message, the only truth about what was sent.

    A marketing row belongs to a campaign (one per campaign and contact); a
    transactional row to no campaign, and its idempotency key is unique.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_deliveries_campaign_contact"),
        UniqueConstraint("idempotency_key", name="uq_deliveries_idempotency_key"),
        CheckConstraint(
            "(message_class = 'marketing' AND campaign_id IS NOT NULL)"
            " OR (message_class = 'transactional' AND idempotency_key IS NOT NULL)",
            name="ck_deliveries_class",
        ),
        Index("ix_deliveries_campaign_outcome", "campaign_id", "outcome"),
        Index("ix_deliveries_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(LedgerId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[str] = mapped_column(String(64))
    # marketing | transactional (services/campaigns/policy.py MessageClass)
    message_class: Mapped[str] = mapped_column(
        String(16), default="marketing", server_default="marketing"
    )
    kind: Mapped[str | None] = mapped_column(String(64))  # transactional: what the mail is for
    sender: Mapped[str | None] = mapped_column(String(200))  # transactional: who asked
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    rule: Mapped[str | None] = mapped_column(String(100))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set, and committed, just before the SMTP conversation: a row left pending with it
    # is "in doubt" (the worker died mid-send) and is never sent again.
    send_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A deferred row: when the pressure policy next allows it (also its claimed_until).
    deferred_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    # Temporary refusals (4xx) so far: each retry waits longer; at the limit, smtp_failed.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# Scheduled starts that ran (meshkit.scheduling run keys): a second run is a no-op.
JOB_RUNS = job_runs_table(Base.metadata, "campaigns")


class ContactAlias(Base):
    """A contact id merged into another in contacts: its sends count for the survivor."""

    __tablename__ = "campaign_contact_aliases"

    merged_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    survivor_id: Mapped[str] = mapped_column(String(64), index=True)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InteractionRow(Base):
    """A contact made outside the ledger: a phone call, a meeting, an event, an SMS sent elsewhere.

    Recorded by a member component (staff or a mesh service naming it); shown in
    the contact's history to every member, its subject and content to the
    recording component alone (services/campaigns/interactions.py). A channel
    pressure rule counts it. The idempotency key is unique per recording
    component: a repeat returns the first record, and one component's key can
    never reach another's record.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("component", "idempotency_key", name="uq_interactions_idempotency_key"),
        Index("ix_interactions_contact_occurred", "contact_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(64))
    component: Mapped[str] = mapped_column(String(64))  # who contacted the person
    channel: Mapped[str] = mapped_column(String(16))  # pressure_policy.CHANNELS
    purpose: Mapped[str | None] = mapped_column(String(64))  # a purpose key, when one applies
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))  # the token's subject
    subject: Mapped[str | None] = mapped_column(String(300))
    content: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(100))  # "staff" or "service:<name>"
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class PressurePolicyVersion(Base):
    """One version of the grouping's pressure policy; append-only (triggers refuse changes).

    A change is a new row whose version is the previous one plus one, so two admins
    writing from the same version collide on the primary key and one of them is refused.
    """

    __tablename__ = "campaigns_pressure_policy_versions"
    __table_args__ = (CheckConstraint("version > 0", name="ck_pressure_policy_version"),)

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, object]] = mapped_column(JSON)  # the policy, policy_store.py
    changed_by: Mapped[str] = mapped_column(Text)  # the admin's subject, from the token
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    note: Mapped[str] = mapped_column(Text, default="")


class ReachSnapshot(Base):
    """A campaign's reach: its counts per outcome over the whole audience (campaigns/reach.py).

    One row per campaign, counted in the background with the preview's gate (peek:
    nothing reserved, nothing else written). The count in progress holds the row
    through claim_token until lease_until; a count whose lease ran out (its process
    died) is taken over by the next caller. `revision` fingerprints what the count
    was made for: an edited campaign no longer matches it (stale).
    """

    __tablename__ = "campaign_reach"
    __table_args__ = (
        CheckConstraint(
            "status IN ('counting', 'done', 'failed')", name="ck_campaign_reach_status"
        ),
    )

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    revision: Mapped[str] = mapped_column(String(64))
    audience: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    evaluated: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PressureCell(Base):
    """One figure of the pressure dashboard before publication (pressure_rollup.py).

    '' in component or purpose: every one together; bucket '' when the series has none.
    `units` is the figure (contacts, contact-weeks or messages), `contacts` the distinct
    contacts behind it, `top_units` the largest part of one contact. No contact id.
    """

    __tablename__ = "campaigns_pressure_cells"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    series: Mapped[str] = mapped_column(String(32), primary_key=True)
    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(8), primary_key=True)
    units: Mapped[int] = mapped_column(BigInteger)
    contacts: Mapped[int] = mapped_column(BigInteger)
    top_units: Mapped[int] = mapped_column(BigInteger)


class PressureCellComponent(Base):
    """What one component brings to a figure of several components (the dominance rule)."""

    __tablename__ = "campaigns_pressure_cell_components"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    series: Mapped[str] = mapped_column(String(32), primary_key=True)
    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(8), primary_key=True)
    contributor: Mapped[str] = mapped_column(String(64), primary_key=True)
    units: Mapped[int] = mapped_column(BigInteger)
    contacts: Mapped[int] = mapped_column(BigInteger)


class PressureMonth(Base):
    """When a month's cells were last recomputed; dirty: a merge, erasure or event changed it."""

    __tablename__ = "campaigns_pressure_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    computed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dirty: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class PressureResponse(Base):
    """A withdrawal or objection pulled from consent, attributed to the last marketing mail.

    component and purpose are those of the last marketing mail sent to the person within
    the attribution window before the event (NULL: none). Erasure deletes the person's rows.
    """

    __tablename__ = "campaigns_pressure_responses"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    contact_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    month: Mapped[str] = mapped_column(String(7), index=True)
    component: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(64))


class PressureCursor(Base):
    """How far a feed of another service was read (consent's withdrawals and objections)."""

    __tablename__ = "campaigns_pressure_cursor"

    feed: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
