"""SQL about one person across campaigns' tables, for privacy requests (export, erasure).

The ledger's own work (claim, close, count) is in ledger.py; this module reads
and anonymises what names a contact: ledger rows, campaign audiences, aliases.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from services.campaigns.models import Campaign, ContactAlias, Delivery
from services.campaigns.policy import Outcome
from services.campaigns.validation import AudienceKind

ERASED_PREFIX = "erased:"
RULE_ERASED = "erased"


@dataclass(frozen=True)
class DeliveryRecord:
    """One ledger row naming the person, with its campaign when it has one."""

    contact_id: str
    message_class: str
    campaign_id: str | None
    campaign_name: str | None
    campaign_purpose: str | None
    owner_component: str | None
    kind: str | None
    sender: str | None
    outcome: str
    rule: str | None
    decided_at: datetime | None
    sent_at: datetime | None
    message_id: str | None


def person_ids(session: Session, contact_id: str) -> list[str]:
    """The id and every id merged into it: the rows of one person."""
    merged = session.scalars(
        select(ContactAlias.merged_id).where(ContactAlias.survivor_id == contact_id)
    ).all()
    return [contact_id, *sorted(m for m in merged if m != contact_id)]


def deliveries_of(session: Session, ids: Sequence[str]) -> list[DeliveryRecord]:
    """Every ledger row naming one of `ids`, oldest first."""
    rows = session.execute(
        select(
            Delivery.contact_id,
            Delivery.message_class,
            Delivery.campaign_id,
            Campaign.name,
            Campaign.purpose,
            Campaign.owner_component,
            Delivery.kind,
            Delivery.sender,
            Delivery.outcome,
            Delivery.rule,
            Delivery.decided_at,
            Delivery.sent_at,
            Delivery.message_id,
        )
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.contact_id.in_(list(ids)))
        .order_by(Delivery.id)
    ).all()
    return [DeliveryRecord(*tuple(row)) for row in rows]


def anonymise_deliveries(session: Session, ids: Sequence[str], now: datetime) -> int:
    """Every row naming `ids` keeps its campaign, class and outcome, and names nobody.

    Each row gets an id of its own, unrelated to the person (so campaign counts
    and the one-row-per-(campaign, contact) rule stay right); a row not yet
    started is closed, since nobody is left to mail.
    """
    rows = session.execute(
        select(Delivery.id, Delivery.outcome, Delivery.send_started_at, Delivery.idempotency_key)
        .where(Delivery.contact_id.in_(list(ids)))
        .with_for_update()
    ).all()
    for row_id, outcome, send_started_at, key in rows:
        values: dict[str, object] = {
            "contact_id": f"{ERASED_PREFIX}{uuid.uuid4().hex}",
            "message_id": None,
        }
        if key is not None:  # a caller's key may quote the person: drop it too
            values["idempotency_key"] = f"{ERASED_PREFIX}{uuid.uuid4().hex}"
        if outcome == Outcome.PENDING and send_started_at is None:
            values.update(outcome=Outcome.NOT_MEMBER.value, rule=RULE_ERASED, decided_at=now)
        session.execute(
            update(Delivery)
            .where(Delivery.id == row_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return len(rows)


def remove_from_audiences(session: Session, ids: Sequence[str]) -> int:
    """Takes `ids` out of every listed audience; returns how many campaigns changed."""
    gone = set(ids)
    text = cast(Campaign.audience_ids, String)
    candidates = session.scalars(
        select(Campaign)
        .where(
            Campaign.audience_kind == AudienceKind.CONTACT_IDS.value,
            or_(*[text.contains(f'"{i}"', autoescape=True) for i in ids]),
        )
        .with_for_update()
    ).all()
    changed = 0
    for campaign in candidates:
        kept = [i for i in campaign.audience_ids if i not in gone]
        if len(kept) != len(campaign.audience_ids):
            campaign.audience_ids = kept
            changed += 1
    return changed


def remove_aliases(session: Session, ids: Sequence[str]) -> int:
    """Drops the merge aliases naming `ids`, on either side."""
    result = session.execute(
        delete(ContactAlias).where(
            or_(ContactAlias.merged_id.in_(list(ids)), ContactAlias.survivor_id.in_(list(ids)))
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
