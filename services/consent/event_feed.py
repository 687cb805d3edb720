"""The feed of withdrawals and objections, for campaigns' pressure dashboard (services only).

Campaigns attributes each withdrawal or objection to the last marketing mail the
person received (docs/pressure-dashboard.md). It reads them here, after a cursor:
the event's sequence number. Only what that attribution needs leaves: the contact
id, the kind, the purpose and the time; never the actor, the address, the IP, the
user agent or the text shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from meshkit.db import Database
from meshkit.errors import Violations
from meshkit.identity import Principal
from services.consent.domain import EventKind
from services.consent.models import ConsentEventRow

FEED_KINDS = (EventKind.WITHDRAWN, EventKind.OBJECTED)
DEFAULT_PAGE = 500
MAX_PAGE = 5000


@dataclass(frozen=True)
class FeedEvent:
    seq: int
    contact_id: str
    kind: str
    purpose: str  # "" for a grouping-wide objection
    at: datetime


def list_events(
    db: Database, principal: Principal, after: int, kinds: Sequence[str], page_size: int
) -> tuple[list[FeedEvent], int]:
    """The feed's events after `after`, oldest first, and the cursor to ask from next."""
    principal.require_service()
    problems = Violations()
    if after < 0:
        problems.add("after", "must be 0 or a cursor this feed returned")
    allowed = {k.value for k in FEED_KINDS}
    unknown = sorted(set(kinds) - allowed)
    if unknown:
        problems.add("kinds", f"only {', '.join(sorted(allowed))} are listed")
    if page_size < 0 or page_size > MAX_PAGE:
        problems.add("page_size", f"must be 0 to {MAX_PAGE}")
    problems.raise_if_any()
    wanted = sorted(set(kinds) or allowed)
    row = ConsentEventRow
    query = (
        select(row.seq, row.contact_id, row.kind, row.purpose, row.recorded_at)
        .where(row.seq > after, row.kind.in_(wanted))
        .order_by(row.seq)
        .limit(page_size or DEFAULT_PAGE)
    )
    with db.transaction() as session:
        found = [
            FeedEvent(int(seq), contact, kind, purpose or "", at)
            for seq, contact, kind, purpose, at in session.execute(query)
        ]
    return found, (found[-1].seq if found else after)
