"""The pressure policy in the campaigns database: every version kept, the one in force cached.

Each change an admin makes is a new row (version = previous + 1, the whole
policy as a JSON document, who, when, why); rows are never updated nor deleted
(triggers refuse it), so the policy in force at any past time can be read
again, e.g. to explain why a recipient was deferred last month.

Two admins who both read version N and write are told apart by the primary
key: the first insert of N + 1 wins, the second is refused (FAILED_PRECONDITION,
409 at the gateway) and must read again; nothing is overwritten.

Dispatch asks for the policy in force for every batch: `current()` keeps it a
few seconds (`cache_seconds`), so a change reaches every replica within that
time, and a put is seen at once by the replica that made it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import FailedPrecondition, Violations, invalid
from meshkit.identity import Principal
from services.campaigns.ledger import Clock, utc_now
from services.campaigns.models import PressurePolicyVersion
from services.campaigns.pressure_policy import (
    BudgetRule,
    PressurePolicy,
    QuietDates,
    QuietHours,
    Scope,
    note_problem,
    policy_violations,
)

log = logging.getLogger(__name__)

DOCUMENT_FORMAT = 1  # the shape of the stored JSON document; bump it with a reader for both
DEFAULT_PAGE = 50
MAX_PAGE = 200
HISTORY_LIST = "pressure-policy.versions"


@dataclass(frozen=True)
class PolicyVersion:
    """One version of the policy and when it was written (None: the settings' version 0)."""

    policy: PressurePolicy
    changed_at: datetime | None

    @property
    def version(self) -> int:
        return self.policy.version


def no_components() -> frozenset[str]:
    return frozenset()


class PolicyStore:
    """Reads and writes the versions of the pressure policy.

    `fallback` is in force while no version was written (the settings' single
    grouping rule, version 0). `components` gives the organisation tree's
    component ids, which component-scoped rules and quiet dates must name.
    """

    def __init__(
        self,
        db: Database,
        fallback: PressurePolicy,
        clock: Clock = utc_now,
        cache_seconds: float = 5.0,
        components: Callable[[], Collection[str]] = no_components,
    ):
        self._db = db
        self._fallback = PolicyVersion(replace(fallback, version=0), None)
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._components = components
        self._lock = threading.Lock()
        self._cached: PolicyVersion | None = None
        self._cached_at: datetime | None = None

    # --- reading ----------------------------------------------------------------------------

    def current(self) -> PressurePolicy:
        """The policy in force now (read again once older than `cache_seconds`)."""
        return self.current_version().policy

    def current_version(self) -> PolicyVersion:
        """The version in force now, with when it was written."""
        with self._lock:
            now = self._clock()
            # A clock stepped back (negative age) reads again rather than keep a stale policy.
            if (
                self._cached is not None
                and self._cached_at is not None
                and 0 <= (now - self._cached_at).total_seconds() < self._cache_seconds
            ):
                return self._cached
            latest = self.latest_version()
            self._cached, self._cached_at = latest, now
            return latest

    def at(self, when: datetime) -> PressurePolicy:
        """The policy that was in force at `when` (the fallback before the first version)."""
        return self.version_at(when).policy

    def version_at(self, when: datetime) -> PolicyVersion:
        """The version in force at `when`: the last one written at or before it."""
        if when.tzinfo is None:
            raise invalid("at", "must be a time with its offset")
        with self._db.transaction() as session:
            row = session.scalars(
                select(PressurePolicyVersion)
                .where(PressurePolicyVersion.changed_at <= when)
                .order_by(PressurePolicyVersion.version.desc())
                .limit(1)
            ).first()
            return _version_of(row) if row is not None else self._fallback

    def history(self, page_size: int = 0, page_token: str = "") -> tuple[list[PolicyVersion], str]:
        """One page of the versions written, newest first, and the token of the next page ("")."""
        size = page_tokens.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
        before = page_tokens.after_int(page_token, HISTORY_LIST)
        query = select(PressurePolicyVersion).order_by(PressurePolicyVersion.version.desc())
        if before is not None:
            query = query.where(PressurePolicyVersion.version < before)
        with self._db.transaction() as session:
            rows = session.scalars(query.limit(size + 1)).all()
            versions = [_version_of(row) for row in rows[:size]]
        more = len(rows) > size
        return versions, page_tokens.encode(HISTORY_LIST, (versions[-1].version,)) if more else ""

    def latest_version(self) -> PolicyVersion:
        """The newest version, read from the database now (no cache): what an admin edits."""
        with self._db.transaction() as session:
            row = session.scalars(
                select(PressurePolicyVersion)
                .order_by(PressurePolicyVersion.version.desc())
                .limit(1)
            ).first()
            return _version_of(row) if row is not None else self._fallback

    # --- writing ----------------------------------------------------------------------------

    def put(
        self, principal: Principal, policy: PressurePolicy, expected_version: int, note: str
    ) -> PressurePolicy:
        """Writes `policy` as the version after `expected_version` (see put_version)."""
        return self.put_version(principal, policy, expected_version, note).policy

    def put_version(
        self, principal: Principal, policy: PressurePolicy, expected_version: int, note: str
    ) -> PolicyVersion:
        """Writes `policy` as the version after `expected_version`; admins only.

        `policy`'s own version, author and note are ignored: the new version is
        `expected_version + 1`, its author the principal. FailedPrecondition when
        `expected_version` is not the version in force (someone wrote since it was read);
        InvalidArgument naming every bad field. A refused put writes nothing.
        """
        principal.require_admin()
        found = Violations()
        if expected_version < 0:
            found.add("expected_version", "must not be negative")
        problem = note_problem(note)
        if problem is not None:
            found.add("note", problem)
        found.items += policy_violations(policy, self._components())
        found.raise_if_any()
        document = to_document(policy)
        try:
            with self._db.transaction() as session:
                latest = session.execute(
                    select(PressurePolicyVersion.version, PressurePolicyVersion.changed_at)
                    .order_by(PressurePolicyVersion.version.desc())
                    .limit(1)
                ).first()
                in_force = latest.version if latest is not None else 0
                if in_force != expected_version:
                    raise _stale(in_force, expected_version)
                # Versions are in time order even if clocks of replicas disagree: `at` relies
                # on it.
                changed_at = self._clock()
                if latest is not None and latest.changed_at > changed_at:
                    changed_at = latest.changed_at
                session.add(
                    PressurePolicyVersion(
                        version=in_force + 1,
                        document=document,
                        changed_by=principal.subject,
                        changed_at=changed_at,
                        note=note,
                    )
                )
        except IntegrityError:
            # Another admin inserted the same version between our read and our insert.
            raise FailedPrecondition(
                "the pressure policy changed while this change was written: read it again, "
                "then retry"
            ) from None
        written = PolicyVersion(
            replace(policy, version=expected_version + 1, changed_by=principal.subject, note=note),
            changed_at,
        )
        log.info("pressure policy version %d written", written.version)
        with self._lock:
            if self._cached is None or self._cached.version < written.version:
                self._cached, self._cached_at = written, self._clock()
        return written


def _stale(in_force: int, expected: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"the pressure policy is at version {in_force}, not {expected}: read it again, then retry"
    )


def _version_of(row: PressurePolicyVersion) -> PolicyVersion:
    policy = from_document(
        row.document, version=row.version, changed_by=row.changed_by, note=row.note
    )
    return PolicyVersion(policy, row.changed_at)


# --- the stored document ----------------------------------------------------------------------


def to_document(policy: PressurePolicy) -> dict[str, Any]:
    """The policy as the JSON document stored in a version row (no version, author or note)."""
    return {
        "format": DOCUMENT_FORMAT,
        "rules": [
            {
                "id": rule.id,
                "scope": rule.scope.value,
                "scope_value": rule.scope_value,
                "max_messages": rule.max_messages,
                "window_seconds": rule.window_seconds,
            }
            for rule in policy.rules
        ],
        "min_gap_seconds": policy.min_gap_seconds,
        "quiet_hours": None
        if policy.quiet_hours is None
        else {
            "start": policy.quiet_hours.start.isoformat(timespec="minutes"),
            "end": policy.quiet_hours.end.isoformat(timespec="minutes"),
        },
        "quiet_dates": [
            {
                "id": period.id,
                "component": period.component,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "label": period.label,
            }
            for period in policy.quiet_dates
        ],
        "default_time_zone": policy.default_time_zone,
    }


def from_document(
    document: dict[str, Any], *, version: int, changed_by: str, note: str
) -> PressurePolicy:
    """The policy a stored document holds (written by to_document, so trusted)."""
    hours = document.get("quiet_hours")
    return PressurePolicy(
        version=version,
        rules=tuple(
            BudgetRule(
                rule["id"],
                Scope(rule["scope"]),
                rule["scope_value"],
                int(rule["max_messages"]),
                int(rule["window_seconds"]),
            )
            for rule in document["rules"]
        ),
        min_gap_seconds=int(document["min_gap_seconds"]),
        quiet_hours=None
        if hours is None
        else QuietHours(time.fromisoformat(hours["start"]), time.fromisoformat(hours["end"])),
        quiet_dates=tuple(
            QuietDates(
                period["id"],
                period["component"],
                date.fromisoformat(period["start"]),
                date.fromisoformat(period["end"]),
                period.get("label", ""),
            )
            for period in document["quiet_dates"]
        ),
        default_time_zone=document["default_time_zone"],
        changed_by=changed_by,
        note=note,
    )
