"""A campaign's reach, counted in the background: its counts per outcome over the whole audience.

The preview's first page used to count every outcome synchronously, which takes
seconds for a thousand recipients and outlives any deadline for a hundred
thousand. A reach snapshot is counted instead by a worker thread of the
campaigns process, with the very gate and batches of the preview (peek: no
pressure slot reserved, no ledger row, nothing written but the snapshot), and
stored with its progress, so a caller gets the latest one at once.

One count per campaign across replicas: a count claims the campaign's row in one
INSERT ... ON CONFLICT DO UPDATE whose WHERE only lets it in when no other count
holds a live lease; it renews its lease after each batch and stops as soon as it
finds it lost the row. A count whose process died keeps its row until the lease
ends; the next GetReach takes it over.

A snapshot is made for one revision of the campaign, a fingerprint of what
decides the outcomes (purpose, audience, priority, deadline, over-budget
choice): an edit makes it stale, and asking for it starts a new count. The
snapshot is as of when it was counted; consent and pressure move on afterwards
("count again" refreshes it).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Table, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from meshkit.db import Database
from meshkit.identity import Principal
from services.campaigns.ledger import Clock, info_of, utc_now
from services.campaigns.models import Campaign, ReachSnapshot
from services.campaigns.preview import PreviewPage, Previews, revision_of
from services.campaigns.workers import worker_name

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # renewed after every batch; a batch of 1000 takes a few seconds
REACH_THREADS = 2  # counts of different campaigns at once in one process


class ReachStatus(StrEnum):
    COUNTING = "counting"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class ReachView:
    status: str  # a ReachStatus word, or "" when never counted
    audience: int
    evaluated: int
    counts: dict[str, int] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stale: bool = False


class Reaches:
    """Reach snapshots of campaigns, for the managers of their owner component.

    `get` answers at once; the counts run on this object's worker threads (call
    `close` to stop them: a count stopped midway keeps its row until its lease
    ends, then the next caller takes it over).
    """

    def __init__(
        self,
        db: Database,
        previews: Previews,
        *,
        lease_seconds: float = LEASE_SECONDS,
        threads: int = REACH_THREADS,
        clock: Clock = utc_now,
        runner: Callable[[], str] = lambda: worker_name(-2),
    ):
        self._db = db
        self._previews = previews
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._runner = runner
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="reach")
        self._stopping = threading.Event()

    def get(self, principal: Principal, campaign_id: str, refresh: bool = False) -> ReachView:
        """The latest snapshot; starts a count when asked, when none exists or it is stale,
        or when the count holding it stopped renewing its lease."""
        campaign = self._previews.previewable(principal, campaign_id)
        revision = revision_of(campaign)
        row = self._row(campaign_id)
        now = self._clock()
        abandoned = (
            row is not None
            and row.status == ReachStatus.COUNTING
            and row.lease_until is not None
            and row.lease_until < now
        )
        if refresh or row is None or row.revision != revision or abandoned:
            token = self.claim(campaign_id, revision, now)
            if token is not None:
                self._submit(campaign, token)
                # What the claim wrote: the count starts from nothing.
                return ReachView(ReachStatus.COUNTING.value, 0, 0, started_at=now)
        return _view(row, revision)

    def claim(self, campaign_id: str, revision: str, now: datetime | None = None) -> str | None:
        """Takes the campaign's row for a new count, unless a live one holds it; its token."""
        now = now or self._clock()
        token = str(uuid.uuid4())
        values = {
            "status": ReachStatus.COUNTING.value,
            "revision": revision,
            "audience": 0,
            "evaluated": 0,
            "counts": {},
            "started_at": now,
            "finished_at": None,
            "claimed_by": self._runner(),
            "claim_token": token,
            "lease_until": now + self._lease,
        }
        table = ReachSnapshot.__table__
        assert isinstance(table, Table)
        dialect = self._db.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(table)
            .values(campaign_id=campaign_id, **values)
            .on_conflict_do_update(
                index_elements=[table.c.campaign_id],
                set_=values,
                # Only when no count holds a live lease: of two claims, one gets the row.
                where=or_(
                    table.c.status != ReachStatus.COUNTING.value,
                    table.c.lease_until < now,
                ),
            )
            .returning(table.c.claim_token)
        )
        with self._db.transaction() as session:
            claimed = session.execute(statement).scalar_one_or_none()
        return token if claimed == token else None

    def count(self, campaign: Campaign, token: str) -> bool:
        """Counts the campaign's reach for the claim `token`; False when the claim was lost."""
        try:
            people = self._previews.people(campaign)
            if not self._renew(campaign.id, token, audience=len(people)):
                return False
            counts: Counter[str] = Counter()
            evaluated = 0
            for codes in self._previews.batches(info_of(campaign), people):
                counts.update(codes)
                evaluated += len(codes)
                if self._stopping.is_set():
                    return False  # the lease ends, another count takes the row over
                if not self._renew(campaign.id, token, evaluated=evaluated, counts=dict(counts)):
                    return False
            return self._renew(
                campaign.id,
                token,
                status=ReachStatus.DONE.value,
                finished_at=self._clock(),
                lease_until=None,
            )
        except Exception:
            log.exception("the reach count of campaign %s failed", campaign.id)
            self._renew(
                campaign.id,
                token,
                status=ReachStatus.FAILED.value,
                finished_at=self._clock(),
                lease_until=None,
            )
            return False

    def close(self) -> None:
        """Stops the counts between two batches and the worker threads."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, campaign: Campaign, token: str) -> None:
        if self._stopping.is_set():
            return
        self._pool.submit(self.count, campaign, token)

    def _renew(self, campaign_id: str, token: str, **values: object) -> bool:
        """Writes progress while the claim is ours, renewing its lease; False when lost."""
        values.setdefault("lease_until", self._clock() + self._lease)
        statement = (
            update(ReachSnapshot)
            .where(
                ReachSnapshot.campaign_id == campaign_id,
                ReachSnapshot.claim_token == token,
                ReachSnapshot.status == ReachStatus.COUNTING.value,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with self._db.transaction() as session:
            result = session.execute(statement)
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _row(self, campaign_id: str) -> ReachSnapshot | None:
        with self._db.transaction() as session:
            return session.get(ReachSnapshot, campaign_id)


def _view(row: ReachSnapshot | None, revision: str) -> ReachView:
    if row is None:
        return ReachView(status="", audience=0, evaluated=0)
    return ReachView(
        status=row.status,
        audience=row.audience,
        evaluated=row.evaluated,
        counts=dict(row.counts or {}),
        started_at=row.started_at,
        finished_at=row.finished_at,
        stale=row.revision != revision,
    )


def preview_page(
    previews: Previews,
    reaches: Reaches | None,
    principal: Principal,
    campaign_id: str,
    page_size: int,
    page_token: str,
    skip_counts: bool = False,
) -> PreviewPage:
    """PreviewCampaign: one page of the dry run; when its audience is too large for the
    first page to count, the reach count is started (or its snapshot kept) instead."""
    page = previews.preview(principal, campaign_id, page_size, page_token, skip_counts=skip_counts)
    if page.counts_deferred and reaches is not None:
        reaches.get(principal, campaign_id)
    return page
