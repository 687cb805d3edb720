"""Snapshots of the aggregate statement's summaries (PostgreSQL): fast answers to usual questions.

The statement (aggregate_sql.postgres_statement) reads every measured value of the grouping:
seconds at a million contacts. Its result is a few hundred rows of cell summaries (counts,
totals, per-component magnitudes, quantiles and the auditor's sketch sums: no contact id),
and it depends only on the `Plan` (which embeds the caller's scopes and the quantile) and on
the auditor's secret. So it is kept in `aggregate_snapshots`, keyed by a digest of both: an
HMAC of the plan's canonical JSON under the secret (the secret itself is stored nowhere; a
new secret makes new digests, and the old snapshots age out).

A snapshot answers while it is younger than the TTL and the organisation version (bumped
by every change of the tree or the field policies) is the one it was computed under;
otherwise the statement runs and the snapshot is replaced. Rights are checked before, and
suppression and the auditor run on every request: only the summaries are kept, never a
protected table or an answer.

The refresher (`refresh`, a leader-only job of the contacts scheduler) recomputes the
snapshots asked in the last week that are older than half the TTL, oldest first, within a
time budget, and drops those nobody asked for a week.

A process runs at most `StatementSlots.size` statements at once
(CONTACTS_AGGREGATE_CONCURRENCY): each reads the whole contact base for seconds, on the
database that also answers sends and searches. A request that finds them all taken for
`wait_seconds` is answered UNAVAILABLE ("ask again shortly") and changes nothing; the
refresher waits its turn.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from hashlib import sha256
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from meshkit.db import Database, UtcDateTime
from meshkit.errors import Unavailable
from services.contacts import repository
from services.contacts.aggregate_sql import WORK_MEM, Axis, Plan, postgres_statement
from services.contacts.models import Base, utcnow
from services.contacts.policy import ReadScope

log = logging.getLogger(__name__)

KEEP_UNASKED = timedelta(days=7)  # a snapshot nobody asked for this long is dropped
FORMAT = 1  # of the plan's canonical form and the stored rows: a change makes new digests

Rows = list[tuple[Any, ...]]


class SnapshotRow(Base):
    """One plan's statement result: cell summaries and sketch sums, never a contact id."""

    __tablename__ = "aggregate_snapshots"
    __table_args__ = (Index("ix_aggregate_snapshots_last_asked_at", "last_asked_at"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)  # the refresher recomputes from it
    rows: Mapped[list[list[Any]]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_asked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    organisation_version: Mapped[int] = mapped_column(BigInteger)


@dataclass(frozen=True)
class Snapshot:
    rows: Rows
    computed_at: datetime


# --- The plan's canonical form ----------------------------------------------------------------


def _scope_json(scope: ReadScope | None) -> dict[str, Any] | None:
    return None if scope is None else asdict(scope)


def _scope_of(data: dict[str, Any] | None) -> ReadScope | None:
    return None if data is None else ReadScope(**data)


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON (every field: two plans with the same JSON run the same statement)."""
    return {
        "format": FORMAT,
        "measures": [[field, _scope_json(scope)] for field, scope in plan.measures],
        "axes": [
            {"source": a.source, "field": a.field, "scope": _scope_json(a.scope)} for a in plan.axes
        ],
        "reach": plan.reach,
        "component": plan.component,
        "quantile": plan.quantile,
        "degrees": plan.degrees,
    }


def plan_of(data: dict[str, Any]) -> Plan:
    """The plan back from its JSON (the refresher's)."""
    return Plan(
        measures=tuple(
            (field, _scope_of(scope) or ReadScope(None)) for field, scope in data["measures"]
        ),
        axes=tuple(Axis(a["source"], a["field"], _scope_of(a["scope"])) for a in data["axes"]),
        reach=data["reach"],
        component=data["component"],
        quantile=data["quantile"],
        degrees=int(data["degrees"]),
    )


def digest(plan: Plan, secret: str) -> str:
    """HMAC-SHA-256 of the plan's canonical JSON under the auditor's secret (hex)."""
    canonical = json.dumps(plan_json(plan), sort_keys=True, separators=(",", ":"))
    return hmac.new(secret.encode(), canonical.encode(), sha256).hexdigest()


# --- Rows as JSON -----------------------------------------------------------------------------


def _cell_json(value: Any) -> Any:
    """Numeric (Decimal) as its exact string; floats (quantiles), ints, text and NULL as is."""
    return str(value) if isinstance(value, Decimal) else value


def rows_json(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [[_cell_json(v) for v in row] for row in rows]


# --- The statement, fresh or from a snapshot ---------------------------------------------------


class StatementSlots:
    """How many aggregate statements this process runs at once."""

    def __init__(self, size: int = 2, wait_seconds: float = 2.0):
        self.size = size
        self.wait_seconds = wait_seconds
        self._free = threading.BoundedSemaphore(size)

    @contextmanager
    def held(self, patient: bool = False) -> Iterator[None]:
        """A slot for one statement; UNAVAILABLE after `wait_seconds` unless `patient`."""
        if not self._free.acquire(timeout=None if patient else self.wait_seconds):
            raise Unavailable("other indicators are being computed: ask again in a few seconds")
        try:
            yield
        finally:
            self._free.release()


def run_statement(
    session: Session,
    plan: Plan,
    secret: str,
    slots: StatementSlots | None = None,
    patient: bool = False,
) -> Rows:
    """The statement's rows (the caller's transaction; work_mem and jit set for it), in one
    of the process's `slots` when given (`patient`: waits for one as long as it takes)."""
    with slots.held(patient) if slots is not None else nullcontext():
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        session.execute(text("SET LOCAL jit = off"))  # compiling costs more than it saves
        statement, params = postgres_statement(plan, secret)
        return [tuple(row) for row in session.execute(text(statement), params)]


def summary_rows(
    session: Session,
    plan: Plan,
    secret: str,
    ttl_seconds: float,
    now: Callable[[], datetime] = utcnow,
    slots: StatementSlots | None = None,
) -> Snapshot:
    """The statement's rows for `plan`: a snapshot's when fresh, else computed and stored."""
    key = digest(plan, secret)
    version = repository.organisation_version(session)
    moment = now()
    found = session.get(SnapshotRow, key)
    if (
        found is not None
        and found.organisation_version == version
        and moment - found.computed_at < timedelta(seconds=ttl_seconds)
    ):
        session.execute(
            update(SnapshotRow).where(SnapshotRow.digest == key).values(last_asked_at=moment)
        )
        return Snapshot([tuple(r) for r in found.rows], found.computed_at)
    if found is not None:
        session.expunge(found)
    rows = run_statement(session, plan, secret, slots)
    stored = rows_json(rows)
    _upsert(session, key, plan, stored, moment, version, asked=moment)
    return Snapshot([tuple(r) for r in stored], moment)


def _upsert(
    session: Session,
    key: str,
    plan: Plan,
    rows: list[list[Any]],
    computed_at: datetime,
    version: int,
    asked: datetime | None,
) -> None:
    values: dict[str, Any] = {
        "digest": key,
        "plan": plan_json(plan),
        "rows": rows,
        "computed_at": computed_at,
        "organisation_version": version,
        "last_asked_at": asked or computed_at,
    }
    changed = {k: v for k, v in values.items() if k != "digest"}
    if asked is None:  # the refresher: whether anyone asks is not its business
        del changed["last_asked_at"]
    statement = pg_insert(SnapshotRow).values(**values)
    session.execute(statement.on_conflict_do_update(index_elements=["digest"], set_=changed))


# --- The refresher -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    recomputed: int
    dropped: int
    skipped: int  # computed under another organisation version or another secret
    failed: int


def refresh(
    db: Database,
    secret: str,
    ttl_seconds: float,
    budget_seconds: float,
    now: Callable[[], datetime] = utcnow,
    slots: StatementSlots | None = None,
) -> Refreshed:
    """Drops the snapshots unasked for a week, then recomputes the stale asked ones, oldest
    first, while the budget lasts. Idempotent; one plan's failure is logged, the next tried."""
    started = time.monotonic()
    moment = now()
    with db.transaction() as session:
        dropped = _count(
            session.execute(
                delete(SnapshotRow).where(SnapshotRow.last_asked_at < moment - KEEP_UNASKED)
            )
        )
        due = session.execute(
            select(SnapshotRow.digest, SnapshotRow.plan)
            .where(
                SnapshotRow.last_asked_at >= moment - KEEP_UNASKED,
                SnapshotRow.computed_at < moment - timedelta(seconds=ttl_seconds / 2),
            )
            .order_by(SnapshotRow.computed_at)
        ).all()
    recomputed = skipped = failed = 0
    for key, data in due:
        if time.monotonic() - started >= budget_seconds:
            break
        try:
            done = _recompute(db, key, data, secret, now, slots)
        except Exception as error:  # noqa: BLE001 - one plan's failure must not stop the others
            failed += 1
            log.warning(
                "aggregate snapshot %s: refresh failed (%s)", key[:12], type(error).__name__
            )
            continue
        recomputed += done
        skipped += not done
    if recomputed or dropped or failed:
        log.info(
            "aggregate snapshots: %d recomputed, %d dropped, %d failed",
            recomputed,
            dropped,
            failed,
        )
    return Refreshed(recomputed, dropped, skipped, failed)


def _count(result: Any) -> int:
    """The rows a DELETE touched (a CursorResult's rowcount)."""
    return int(result.rowcount or 0)


def _recompute(
    db: Database,
    key: str,
    data: dict[str, Any],
    secret: str,
    now: Callable[[], datetime],
    slots: StatementSlots | None,
) -> bool:
    """One snapshot computed again, if it is still valid for this secret and the current
    organisation (a plan of an older version may no longer be the caller's rights: the next
    request computes its own)."""
    plan = plan_of(data)
    if not hmac.compare_digest(digest(plan, secret), key):
        return False
    with db.transaction() as session:
        version = repository.organisation_version(session)
        stored = session.execute(
            select(SnapshotRow.organisation_version).where(SnapshotRow.digest == key)
        ).scalar_one_or_none()
        if stored != version:
            return False
        moment = now()
        rows = rows_json(run_statement(session, plan, secret, slots, patient=True))
        _upsert(session, key, plan, rows, moment, version, asked=None)
    return True
