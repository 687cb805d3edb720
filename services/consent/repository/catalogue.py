"""Purposes, legal-basis rules and notices (notices are append-only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from services.consent.domain import (
    BasisRule,
    Language,
    Notice,
    Purpose,
)
from services.consent.models import (
    BasisRuleRow,
    NoticeRow,
    PurposeRow,
    channels_text,
    notice_of,
    purpose_of,
    rule_of,
)
from services.consent.repository._sql import insert_for


def purpose(session: Session, key: str) -> Purpose | None:
    row = session.get(PurposeRow, key)
    return purpose_of(row) if row is not None else None


def purposes(
    session: Session,
    include_inactive: bool = False,
    after: str | None = None,
    limit: int | None = None,
) -> list[Purpose]:
    """The catalogue, by key: the purposes after key `after`, at most `limit`."""
    statement = select(PurposeRow).order_by(PurposeRow.key)
    if not include_inactive:
        statement = statement.where(PurposeRow.active.is_(True))
    if after is not None:
        statement = statement.where(PurposeRow.key > after)
    return [purpose_of(row) for row in session.scalars(statement.limit(limit))]


def add_purpose(session: Session, new: Purpose) -> bool:
    """Inserts a purpose; False when the key is taken."""
    statement = (
        insert_for(session, PurposeRow)
        .values(
            key=new.key,
            owner_component=new.owner,
            label_fr=new.label_fr,
            label_en=new.label_en,
            channels=channels_text(new.channels),
            marketing=new.marketing,
            retention_months=new.retention_months,
            active=new.active,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def save_purpose(session: Session, changed: Purpose) -> None:
    """Writes the labels, channels and active flag of an existing purpose."""
    session.execute(
        update(PurposeRow)
        .where(PurposeRow.key == changed.key)
        .values(
            label_fr=changed.label_fr,
            label_en=changed.label_en,
            channels=channels_text(changed.channels),
            active=changed.active,
        )
    )


def rules(
    session: Session,
    purpose_key: str | None = None,
    after: tuple[str, str, str] | None = None,
    limit: int | None = None,
) -> list[BasisRule]:
    """The basis rules (of one purpose, or all), in key order: those after the
    (purpose, channel, contact kind) `after`, at most `limit`."""
    key = (BasisRuleRow.purpose, BasisRuleRow.channel, BasisRuleRow.contact_kind)
    statement = select(BasisRuleRow).order_by(*key)
    if purpose_key is not None:
        statement = statement.where(BasisRuleRow.purpose == purpose_key)
    if after is not None:
        statement = statement.where(tuple_(*key) > tuple_(*(literal(v) for v in after)))
    return [rule_of(row) for row in session.scalars(statement.limit(limit))]


def put_rule(session: Session, rule: BasisRule) -> None:
    """Sets the basis of one purpose x channel x contact kind (replacing the one there)."""
    statement = insert_for(session, BasisRuleRow).values(
        purpose=rule.purpose,
        channel=rule.channel.value,
        contact_kind=rule.contact_kind.value,
        basis=rule.basis.value,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["purpose", "channel", "contact_kind"],
            set_={"basis": statement.excluded.basis},
        )
    )


# --- Notices ---------------------------------------------------------------------------------


def notice(session: Session, notice_id: str) -> Notice | None:
    row = session.get(NoticeRow, notice_id)
    return notice_of(row) if row is not None else None


def notices(
    session: Session,
    purpose_key: str,
    after: tuple[str, int] | None = None,
    limit: int | None = None,
) -> list[Notice]:
    """The published versions for a purpose, by language then version: those after the
    (language, version) `after`, at most `limit`."""
    statement = select(NoticeRow).where(NoticeRow.purpose == purpose_key)
    if after is not None:
        position = tuple_(literal(after[0]), literal(after[1]))
        statement = statement.where(tuple_(NoticeRow.language, NoticeRow.version) > position)
    statement = statement.order_by(NoticeRow.language, NoticeRow.version).limit(limit)
    return [notice_of(row) for row in session.scalars(statement)]


def publish_notice(
    session: Session,
    purpose_key: str,
    language: Language,
    text: str,
    published_at: datetime,
    published_by: str,
) -> Notice | None:
    """Appends the next version; None when a concurrent publication took that number."""
    latest = session.scalar(
        select(func.coalesce(func.max(NoticeRow.version), 0)).where(
            NoticeRow.purpose == purpose_key, NoticeRow.language == language.value
        )
    )
    statement = (
        insert_for(session, NoticeRow)
        .values(
            id=str(uuid.uuid4()),
            purpose=purpose_key,
            language=language.value,
            version=int(latest or 0) + 1,
            text=text,
            published_at=published_at.astimezone(UTC),
            published_by=published_by,
        )
        .on_conflict_do_nothing(index_elements=["purpose", "language", "version"])
        .returning(NoticeRow)
    )
    row = session.scalars(statement).first()
    return notice_of(row) if row is not None else None
