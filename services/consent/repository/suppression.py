"""The suppression list: keyed hashes of addresses, never an address."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import (
    delete,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.consent.models import (
    SuppressionRow,
)
from services.consent.repository._sql import values_of


def suppress(session: Session, hashes: Collection[str], reason: str, recorded_at: datetime) -> int:
    """Adds the hashes not listed yet (the first reason stays); returns how many were new."""
    if not hashes:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"hash": h, "reason": reason, "recorded_at": recorded_at} for h in sorted(set(hashes))]
    statement = (
        insert(SuppressionRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["hash"])
        .returning(SuppressionRow.hash)
    )
    return len(session.scalars(statement).all())


def blocked(session: Session, hashes: Collection[str]) -> set[str]:
    """Which of these address hashes are suppressed, in one query (up to 10,000 of them)."""
    if not hashes:
        return set()
    found = session.scalars(
        select(SuppressionRow.hash).where(SuppressionRow.hash.in_(values_of(session, hashes)))
    )
    return set(found)


def lift(session: Session, hashes: Collection[str], reason: str) -> int:
    """Removes these hashes from the suppression list when listed for `reason` only."""
    if not hashes:
        return 0
    result = session.execute(
        delete(SuppressionRow).where(
            SuppressionRow.hash.in_(set(hashes)), SuppressionRow.reason == reason
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
