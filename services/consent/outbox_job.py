"""Consent's scheduled work: deliver the outbox, and the daily retention and revalidation run.

Both run on meshkit's LeaderScheduler (only the leader replica runs them) and
are safe to run twice or on two replicas at once anyway:

- delivery leases each due outbox entry with a conditional UPDATE before
  working on it, and gives campaigns the entry's idempotency key, so an entry
  delivered twice (a lease that ran out, a crash before the mark) is sent once;
- the retention run claims one run key per act (retention.run_key: the act and
  the consent's last positive event) in the transaction that does the act, so a
  second run, here or on another replica, finds the act done.

The clock is a parameter: tests move it (the one fake).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from meshkit.db import Database
from meshkit.errors import DomainError
from meshkit.identity import Principal
from meshkit.links import PersonLinks
from meshkit.roles import Role
from meshkit.scheduling import claim_run
from services.consent import consent_mail, outbox, repository, retention, suppression
from services.consent.clients import ContactDirectory
from services.consent.domain import Collection, EventKind, How, Purpose
from services.consent.mailer import Mailer, Transactional
from services.consent.models import JOB_RUNS
from services.consent.outbox import Backoff, Entry, OutboxKind
from services.consent.privacy_clients import ContactsPrivacy
from services.consent.repository import NewEvent

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RETENTION_JOB = "retention"  # the job name its run keys are claimed under
RETENTION_ACTOR = Principal("service:consent", roles=frozenset({Role.SERVICE.value}))
RETENTION_SOURCE = "retention-job"
OBJECTED = "objected"  # the suppression reason an objection lists addresses under

# Outcomes campaigns gives that settle a mail: trying again would change nothing.
# `pending` (another call is sending it right now) is not one of them.
_UNSETTLED = frozenset({"pending", ""})


class RetryLater(Exception):
    """The entry could not be delivered now; its outcome says why."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


@dataclass(frozen=True)
class Delivery:
    """What delivering the outbox needs, wired by the composition root."""

    mailer: Mailer
    contacts: ContactsPrivacy  # the addresses of an objector
    directory: ContactDirectory  # the member components of a contact
    links: PersonLinks
    public_base_url: str
    suppression_secret: bytes
    backoff: Backoff
    lease: timedelta = timedelta(minutes=2)


# --- Outbox delivery ---------------------------------------------------------------------


def deliver_due(db: Database, delivery: Delivery, clock: Clock, limit: int = 200) -> int:
    """Delivers the due entries (up to `limit`); returns how many were settled."""
    now = clock()
    with db.transaction() as session:
        due = repository.due_outbox(session, now, limit)
    settled = 0
    for entry_id in due:
        with db.transaction() as session:
            leased = repository.lease_outbox(session, entry_id, now, now + delivery.lease)
        if leased is None:
            continue  # another replica has it
        entry, attempts = leased
        try:
            outcome = _deliver(db, delivery, entry, entry_id, clock)
        except (DomainError, RetryLater) as failure:
            code = failure.outcome if isinstance(failure, RetryLater) else failure.grpc_code
            retry_at = outbox.next_attempt(delivery.backoff, attempts, clock())
            with db.transaction() as session:
                repository.retry_outbox(session, entry.idempotency_key, code.lower(), retry_at)
            log.info("outbox %s %d: %s, retry later", entry.kind.value, entry_id, code.lower())
            continue
        with db.transaction() as session:
            repository.close_outbox(session, entry.idempotency_key, outcome, clock())
        settled += 1
    return settled


def _deliver(db: Database, delivery: Delivery, entry: Entry, entry_id: int, clock: Clock) -> str:
    if entry.kind in outbox.MAILS:
        return _mail(db, delivery, entry)
    addresses = delivery.contacts.addresses(entry.contact_id)
    hashes = [h for h in suppression.item_hashes(delivery.suppression_secret, addresses) if h]
    with db.transaction() as session:
        if entry.kind is OutboxKind.SUPPRESS_OBJECTION:
            added = repository.suppress(session, hashes, OBJECTED, clock())
            return f"listed:{added}"
        if repository.outbox_pending_before(session, entry.contact_id, entry_id):
            raise RetryLater("after_suppression")  # lift only what is listed already
        return f"lifted:{repository.lift(session, hashes, OBJECTED)}"


def _mail(db: Database, delivery: Delivery, entry: Entry) -> str:
    with db.transaction() as session:
        event = repository.event(session, entry.link_ref)
        if event is None:
            return "gone"  # erased meanwhile
        if entry.kind is OutboxKind.REVALIDATION and repository.revalidation_of(session, event.id):
            return "answered"
        purpose = repository.purpose(session, event.purpose or "")
    component = entry.component_id
    if not component:
        members = delivery.directory.members([entry.contact_id]).get(entry.contact_id, ())
        component = outbox.mail_component(None, members)
        if not component:
            return "no_component"
    assert entry.link_kind is not None
    token = delivery.links.sign(entry.link_kind, entry.contact_id, entry.link_ref)
    url = consent_mail.link_url(delivery.public_base_url, entry.kind, token)
    label_fr = purpose.label_fr if purpose else event.purpose or ""
    label_en = purpose.label_en if purpose else event.purpose or ""
    text = consent_mail.compose(entry.kind, label_fr, label_en, url)
    outcome = delivery.mailer.send(
        Transactional(
            entry.idempotency_key,
            entry.contact_id,
            component,
            entry.kind.value,
            text.subject,
            text.text_body,
        )
    )
    if outcome in _UNSETTLED:
        raise RetryLater(outcome or "no_outcome")
    return outcome


# --- Retention and revalidation -----------------------------------------------------------


@dataclass(frozen=True)
class RetentionRun:
    revalidations: int = 0
    expiries: int = 0


def run_retention(db: Database, clock: Clock, ran_by: str) -> RetentionRun:
    """Asks once, then lapses, every consent at the end of its retention (see retention.py)."""
    now = clock()
    with db.transaction() as session:
        contact_ids = repository.contacts_with_events(session)
        purposes = {p.key: p for p in repository.purposes(session, include_inactive=True)}
    revalidations = expiries = 0
    for contact_id in contact_ids:
        with db.transaction() as session:
            events = repository.history(session, [contact_id])
        for held in retention.in_force(events, purposes):
            act = retention.stage(held.standing, now)
            if act is retention.Stage.CURRENT:
                continue
            with db.transaction() as session:
                if _act(session, held, act, now, ran_by, purposes):
                    revalidations += act is retention.Stage.REVALIDATE
                    expiries += act is retention.Stage.LAPSE
    if revalidations or expiries:
        log.info("retention: %d revalidation mails, %d expiries", revalidations, expiries)
    return RetentionRun(revalidations, expiries)


def _act(
    session: Session,
    held: retention.Held,
    act: retention.Stage,
    now: datetime,
    ran_by: str,
    purposes: Mapping[str, Purpose],
) -> bool:
    """Does one act once: False when a run did it already or the consent changed since."""
    key = retention.run_key(held.standing, act)
    if not claim_run(session, JOB_RUNS, RETENTION_JOB, key, ran_by, now):
        return False
    # Read again under the claim: an answer given since the first read wins.
    events = repository.history(session, [held.contact_id])
    still = [
        h
        for h in retention.in_force(events, purposes)
        if (h.purpose, h.channel, h.scope) == (held.purpose, held.channel, held.scope)
    ]
    if not still or still[0].standing != held.standing:
        return False
    cycle = held.standing.last_positive_event_id
    if act is retention.Stage.REVALIDATE:
        entry = outbox.revalidation(held.contact_id, key, cycle, held.scope.component or "")
        return repository.enqueue(session, entry, now)
    expired = NewEvent(
        held.contact_id,
        EventKind.EXPIRED,
        held.channel,
        held.purpose,
        held.scope,
        Collection(How.RETENTION_JOB, RETENTION_SOURCE),
        refers_to=cycle,
    )
    return repository.append(session, RETENTION_ACTOR, expired, now) is not None


# --- Scheduling ---------------------------------------------------------------------------
