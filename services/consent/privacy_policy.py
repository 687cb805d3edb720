"""Privacy requests as plain rules: kinds, steps, the one lifecycle, the deadline, the backoff.

A request is opened by the grouping's data-protection officer for one
contact. Each kind is a fixed list of steps, one per part of the mesh that
must answer, done in order: a step that cannot be done now (a service down)
is tried again later with a growing delay, forever; a step that is refused
for good (the contact is gone, values the contacts service rejects) fails
the request. When every step is done, the request is done.

    open ──first attempt──▶ in_progress ──every step done──▶ done
      │                         │
      └──────a step refused─────┴──────────────────────────▶ failed
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from meshkit.identity import Principal
from meshkit.roles import Role


class Kind(StrEnum):
    ACCESS = "access"  # access and portability: one JSON document
    ERASURE = "erasure"
    RECTIFICATION = "rectification"


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"


class StepStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Part(StrEnum):
    """Who answers one step: a service of the mesh, or the suppression list."""

    SUPPRESSION = "suppression"
    CONTACTS = "contacts"
    CONSENT = "consent"
    CAMPAIGNS = "campaigns"


# Erasure: the addresses go to the suppression list first (read from contacts, which
# still holds them); contacts erases last, so a retry can still read what it needs.
STEPS: dict[Kind, tuple[Part, ...]] = {
    Kind.ACCESS: (Part.CONTACTS, Part.CONSENT, Part.CAMPAIGNS),
    Kind.ERASURE: (Part.SUPPRESSION, Part.CAMPAIGNS, Part.CONSENT, Part.CONTACTS),
    Kind.RECTIFICATION: (Part.CONTACTS,),
}

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.IN_PROGRESS, Status.FAILED}),
    Status.IN_PROGRESS: frozenset({Status.DONE, Status.FAILED}),
    Status.DONE: frozenset(),
    Status.FAILED: frozenset(),
}
UNFINISHED = frozenset({Status.OPEN, Status.IN_PROGRESS})


class Outcome(StrEnum):
    """What one attempt of a step came to (the audit trail keeps it, never a value)."""

    DONE = "done"
    RETRY = "retry"  # not answered now: tried again later
    REFUSED = "refused"  # answered no, for good: the request fails


class IllegalTransition(ValueError):
    """A status change the lifecycle does not allow (a bug, never a caller's fault)."""


def may_move(current: Status, target: Status) -> bool:
    """True when the lifecycle allows `current` -> `target`."""
    return target in TRANSITIONS[current]


def moved(current: Status, target: Status) -> Status:
    """`target`, or IllegalTransition."""
    if not may_move(current, target):
        raise IllegalTransition(f"{current} -> {target}")
    return target


def after_attempt(current: Status, steps: dict[Part, StepStatus]) -> Status:
    """The request status once an attempt leaves its steps as `steps`.

    An attempt starts an open request (open -> in_progress), so `done` is only
    ever reached through `in_progress`.
    """
    if current is Status.OPEN:
        current = moved(current, Status.IN_PROGRESS)
    if any(s is StepStatus.FAILED for s in steps.values()):
        return moved(current, Status.FAILED)
    if all(steps.get(p) is StepStatus.DONE for p in steps):
        return moved(current, Status.DONE)
    return current


def step_after(outcome: Outcome) -> StepStatus:
    """The step status an attempt's outcome leaves."""
    return {
        Outcome.DONE: StepStatus.DONE,
        Outcome.RETRY: StepStatus.PENDING,
        Outcome.REFUSED: StepStatus.FAILED,
    }[outcome]


def next_step(kind: Kind, steps: dict[Part, StepStatus]) -> Part | None:
    """The first step of `kind` not done yet (steps run in order); None when all are."""
    return next((p for p in STEPS[kind] if steps.get(p) is not StepStatus.DONE), None)


def deadline(opened_at: datetime) -> datetime:
    """One month after `opened_at` (GDPR Art. 12(3)), the same day of the next month.

    When the next month is shorter (31 January), the deadline is its last day.
    """
    year = opened_at.year + opened_at.month // 12
    month = opened_at.month % 12 + 1
    day = min(opened_at.day, calendar.monthrange(year, month)[1])
    return opened_at.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Backoff:
    """Delay before the next attempt of a step: doubling from `base`, at most `ceiling`."""

    base: timedelta = field(default=timedelta(seconds=30))
    ceiling: timedelta = field(default=timedelta(hours=1))

    def delay(self, failed_attempts: int) -> timedelta:
        """The wait after `failed_attempts` unanswered attempts in a row (>= 1)."""
        exponent = min(max(failed_attempts - 1, 0), 32)
        return min(self.base * (2**exponent), self.ceiling)


def is_grouping_dpo(principal: Principal) -> bool:
    """The grouping's data-protection officer: the dpo role and no component."""
    return principal.has_role(Role.DPO) and not principal.component


def contact_digest(contact_id: str) -> str:
    """What a request keeps of its contact once that contact is erased.

    Contact ids are random UUIDs: only someone holding the id (the contacts
    tombstone) can find the requests about it again.
    """
    return hashlib.sha256(contact_id.encode()).hexdigest()


# Answers that say no for good; any other failure (silence, a refused token) is retried.
REFUSALS = frozenset({"INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "ALREADY_EXISTS"})


def outcome_of(kind: Kind, code: str) -> Outcome:
    """What a part's error (its gRPC code name) means for a step of `kind`.

    Erasing what is already gone is done: NOT_FOUND finishes an erasure step.
    """
    if kind is Kind.ERASURE and code == "NOT_FOUND":
        return Outcome.DONE
    return Outcome.REFUSED if code in REFUSALS else Outcome.RETRY


@dataclass(frozen=True)
class Rectification:
    """The values one component holds to set, and the fields to clear."""

    owner: str
    values: dict[str, str]
    clear: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    part: Part
    status: StepStatus
    attempts: int
    last_attempt_at: datetime | None
    last_outcome: str | None


@dataclass(frozen=True)
class AuditEntry:
    """One line of a request's trail: ids, step names and outcome codes, never a value."""

    at: datetime
    actor: str
    action: str  # opened, attempted, finished, fetched
    part: Part | None
    outcome: str | None


@dataclass(frozen=True)
class PrivacyRequest:
    id: str
    kind: Kind
    contact_id: str | None  # None once the contact is erased
    status: Status
    opened_at: datetime
    deadline: datetime
    opened_by: str
    finished_at: datetime | None
    steps: tuple[Step, ...]
    audit: tuple[AuditEntry, ...] = ()

    def step_statuses(self) -> dict[Part, StepStatus]:
        return {s.part: s.status for s in self.steps}
