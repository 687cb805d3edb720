"""What consent owes the rest of the mesh once an event is committed (pure).

An event that needs something done elsewhere (a confirmation mail for a pending
grant, a revalidation mail, an objector's addresses put on the suppression
list, or taken off it when they opt back in) writes an outbox entry in the same
transaction, so the work is never lost. A job delivers due entries. Each entry
has one idempotency key, which is also the key campaigns' SendTransactional
receives: an entry delivered but not marked (a crash in between) is delivered
again with the same key, and campaigns replays the first outcome instead of
sending twice.

An entry is due when it is not done and its next attempt time has come. A
delivery that could not be made (the other service away) is tried again after
a wait that doubles from `first` up to `longest`; a delivery that got an answer
(even "not a member", "no address") is done: trying again would change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from meshkit.links import LinkKind
from services.consent.domain import PERSON_MADE, POSITIVE, Channel, ConsentEvent, EventKind


class OutboxKind(StrEnum):
    CONFIRMATION = "consent_confirmation"  # double opt-in: "confirm your consent"
    REVALIDATION = "consent_revalidation"  # retention: "do you still want it?"
    SUPPRESS_OBJECTION = "suppress_objection"  # Art. 21: list the addresses
    LIFT_OBJECTION = "lift_objection"  # the person opted back in: unlist them


MAILS = frozenset({OutboxKind.CONFIRMATION, OutboxKind.REVALIDATION})
LINKS = {OutboxKind.CONFIRMATION: LinkKind.CONFIRM, OutboxKind.REVALIDATION: LinkKind.REVALIDATE}


@dataclass(frozen=True)
class Entry:
    """One piece of owed work, as enqueued."""

    idempotency_key: str
    kind: OutboxKind
    contact_id: str
    component_id: str = ""  # mails: whose view of the contact gives the address
    link_ref: str = ""  # mails: the event the signed link names

    @property
    def link_kind(self) -> LinkKind | None:
        return LINKS.get(self.kind)


@dataclass(frozen=True)
class Backoff:
    first: timedelta
    longest: timedelta

    def wait(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1 = the first)."""
        doublings = max(0, attempts - 1)
        if doublings >= 32:
            return self.longest
        return min(self.first * (2**doublings), self.longest)


def is_due(sent_at: datetime | None, next_attempt_at: datetime, now: datetime) -> bool:
    """Is this entry to be attempted at `now`?"""
    return sent_at is None and next_attempt_at <= now


def next_attempt(backoff: Backoff, attempts: int, now: datetime) -> datetime:
    """When an entry that failed its `attempts`-th attempt at `now` is tried again."""
    return now + backoff.wait(attempts)


# --- Keys and the events that enqueue ---------------------------------------------------


def confirmation(grant: ConsentEvent, component_id: str) -> Entry:
    """The confirmation mail of a pending grant: one per grant."""
    return Entry(
        f"consent-confirmation:{grant.id}",
        OutboxKind.CONFIRMATION,
        grant.contact_id,
        component_id,
        grant.id,
    )


def revalidation(contact_id: str, run_key: str, cycle_event_id: str, component_id: str) -> Entry:
    """The revalidation mail of one retention cycle; its key is the job's run key."""
    return Entry(
        f"consent-revalidation:{run_key}",
        OutboxKind.REVALIDATION,
        contact_id,
        component_id,
        cycle_event_id,
    )


def suppression_of(objection: ConsentEvent) -> Entry:
    """List the objector's addresses: one per objection event."""
    return Entry(
        f"suppress-objection:{objection.id}", OutboxKind.SUPPRESS_OBJECTION, objection.contact_id
    )


def lift_of(positive: ConsentEvent) -> Entry:
    """Unlist the addresses of a person who opted back in: one per such event."""
    return Entry(f"lift-objection:{positive.id}", OutboxKind.LIFT_OBJECTION, positive.contact_id)


def mail_component(scope_component: str | None, members: Iterable[str]) -> str:
    """The component whose view gives the address: the consent's own, or for a
    grouping-wide consent the first member component by name ("" when none)."""
    if scope_component:
        return scope_component
    return min(members, default="")


def lifts_objection(event: ConsentEvent, earlier: Iterable[ConsentEvent]) -> bool:
    """Does this event take the person's addresses off the objection suppression list?

    Only the person's own act (a link, a form, a mail) saying yes on e-mail, not
    pending, after an objection on e-mail (or every channel). Staff cannot lift it.
    """
    if event.kind not in POSITIVE or event.pending or event.channel is not Channel.EMAIL:
        return False
    if event.how not in PERSON_MADE:
        return False
    return any(e.kind is EventKind.OBJECTED and e.channel in (None, Channel.EMAIL) for e in earlier)
