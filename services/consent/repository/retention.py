"""What the retention job reads."""

from __future__ import annotations

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from services.consent.domain import (
    ConsentEvent,
    EventKind,
)
from services.consent.models import (
    ConsentEventRow,
    event_of,
)


def contacts_with_events(session: Session) -> list[str]:
    """Every contact id some event names, in order."""
    return list(
        session.scalars(
            select(ConsentEventRow.contact_id).distinct().order_by(ConsentEventRow.contact_id)
        )
    )


def revalidation_of(session: Session, cycle_event_id: str) -> ConsentEvent | None:
    """The revalidation recorded for one retention cycle, if any."""
    row = session.scalars(
        select(ConsentEventRow)
        .where(
            ConsentEventRow.refers_to == cycle_event_id,
            ConsentEventRow.kind == EventKind.REVALIDATED.value,
        )
        .order_by(ConsentEventRow.seq)
    ).first()
    return event_of(row) if row is not None else None
