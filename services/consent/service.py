"""The consent use cases: record events, read history and state, check a batch.

The catalogue's are in catalogue.py, the suppression list's and receipts' in
proofs.py, the privacy requests' in privacy_requests.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    invalid,
)
from meshkit.identity import Principal
from services.consent import merges, outbox, policy, repository, suppression
from services.consent.clients import ContactDirectory
from services.consent.domain import (
    PERSON_MADE,
    POSITIVE,
    Change,
    Channel,
    ConsentEvent,
    Decision,
    EventKind,
    Question,
    Scope,
    StateEntry,
    Verdict,
)
from services.consent.repository import NewEvent
from services.consent.validation import (
    BatchRequest,
    ChangeRequest,
    ConfirmRequest,
    ObjectionRequest,
    RevalidateRequest,
    catalogue_violations,
    valid_batch,
    valid_change,
    valid_confirmation,
    valid_contact_id,
    valid_objection,
    valid_revalidation,
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The server's clock, in UTC."""
    return datetime.now(UTC)


# --- Recording events -------------------------------------------------------------------------


def grant(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    request: ChangeRequest,
    clock: Clock = utc_now,
) -> ConsentEvent:
    """Records a grant (maybe pending a confirmation) with the notice the person saw."""
    change = _checked(db, contacts, principal, request, EventKind.GRANTED)
    with db.transaction() as session:
        return _record_grant(session, principal, change, clock())


def _record_grant(
    session: Session, principal: Principal, change: Change, now: datetime
) -> ConsentEvent:
    event = repository.append(session, principal, _new(change, EventKind.GRANTED), now)
    assert event is not None  # a grant carries no repeat key: it cannot collide
    if event.pending:  # double opt-in: the mail leaves with the grant, or neither does
        entry = outbox.confirmation(event, change.scope.component or "")
        repository.enqueue(session, entry, now)
    _lift_if_opted_back(session, event, now)
    return event


def deny(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    request: ChangeRequest,
    clock: Clock = utc_now,
) -> ConsentEvent:
    """Records that the person refused when asked."""
    change = _checked(db, contacts, principal, request, EventKind.DENIED)
    with db.transaction() as session:
        event = repository.append(session, principal, _new(change, EventKind.DENIED), clock())
    assert event is not None
    return event


def withdraw(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    request: ChangeRequest,
    clock: Clock = utc_now,
) -> ConsentEvent:
    """Records a withdrawal; never harder to get than a grant.

    Withdrawing what is already withdrawn for this scope appends nothing and
    returns the withdrawal that stands (policy.standing_withdrawal); two
    concurrent repeats append one event (the unique repeat key).
    """
    change = _checked(db, contacts, principal, request, EventKind.WITHDRAWN)
    with db.transaction() as session:
        return _record_withdrawal(session, principal, change, clock())


def _record_withdrawal(
    session: Session, principal: Principal, change: Change, now: datetime
) -> ConsentEvent:
    question = Question(change.purpose, change.channel, change.scope.component)
    events = repository.stream(session, change.contact_id, change.channel, change.purpose)
    standing = policy.standing_withdrawal(events, change.scope, question)
    if standing is not None:
        return standing
    key = policy.withdrawal_key(change, events)
    recorded = repository.append(session, principal, _new(change, EventKind.WITHDRAWN), now, key)
    return recorded or repository.by_repeat_key(session, key)


MAX_CHANGES = 200
DEFAULT_HISTORY_PAGE = 100
MAX_HISTORY_PAGE = 1000
HISTORY_LIST = "consent.history"


def record_changes(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    requests: Sequence[tuple[EventKind | None, ChangeRequest]],
    clock: Clock = utc_now,
) -> list[ConsentEvent]:
    """Records several grants and withdrawals of one contact in order, all or none of them.

    For a form that changes several choices (the preference page): every change
    is checked before anything is written, then all are written in one
    transaction, so a failure half-way leaves nothing behind. The order matters
    (the latest event that bears on a choice decides it), so it is the caller's.
    """
    if len(requests) > MAX_CHANGES:
        raise invalid("changes", f"at most {MAX_CHANGES} changes per call")
    if any(kind not in (EventKind.GRANTED, EventKind.WITHDRAWN) for kind, _ in requests):
        raise invalid("changes", "each change is a grant or a withdrawal")
    named = {request.contact_id for _, request in requests}
    if len(named) > 1:
        raise invalid("changes", "every change must name the same contact")
    if not named:
        return []
    (contact_id,) = named
    members = _members(contacts, valid_contact_id(contact_id))  # one question to contacts
    checked = [
        (kind, _checked(db, contacts, principal, request, kind, members))
        for kind, request in requests
        if kind is not None  # refused above: for the type checker
    ]
    with db.transaction() as session:
        now = clock()
        return [
            _record_grant(session, principal, change, now)
            if kind is EventKind.GRANTED
            else _record_withdrawal(session, principal, change, now)
            for kind, change in checked
        ]


def object_to_marketing(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    request: ObjectionRequest,
    clock: Clock = utc_now,
) -> ConsentEvent:
    """Records an Art. 21 objection: every marketing purpose, every component. Idempotent."""
    objection = valid_objection(request)
    if not policy.may_use_how(principal, objection.collection.how):
        raise PermissionDenied(_HOW_REFUSAL)
    members = _members(contacts, objection.contact_id)
    if not policy.may_record(principal, EventKind.OBJECTED, Scope.grouping(), members):
        raise PermissionDenied(_refusal(EventKind.OBJECTED, Scope.grouping()))
    channel = objection.channel
    with db.transaction() as session:
        events = repository.history(session, [objection.contact_id])
        standing = policy.standing_objection(events, channel)
        if standing is not None:
            return standing
        key = policy.repeat_key(
            objection.contact_id, "objected", (channel.value if channel else "",), events
        )
        new = NewEvent(
            objection.contact_id,
            EventKind.OBJECTED,
            channel,
            None,
            Scope.grouping(),
            objection.collection,
        )
        now = clock()
        recorded = repository.append(session, principal, new, now, key)
        if recorded is None:  # a concurrent repeat won, and enqueued the suppression
            return repository.by_repeat_key(session, key)
        if channel in (None, Channel.EMAIL):
            # The addresses go on the suppression list through the outbox (contacts may be away).
            repository.enqueue(session, outbox.suppression_of(recorded), now)
        return recorded


def confirm(
    db: Database, principal: Principal, request: ConfirmRequest, clock: Clock = utc_now
) -> ConsentEvent:
    """Records the person's confirmation of a pending grant (services only). Idempotent."""
    principal.require_service()
    grant_id, collection = valid_confirmation(request)
    with db.transaction() as session:
        pending = repository.event(session, grant_id)
        if pending is None or pending.kind is not EventKind.GRANTED or not pending.pending:
            raise invalid("grant_event_id", "no pending grant has this id")
        already = repository.confirmation_of(session, grant_id)
        if already is not None:
            return already
        new = NewEvent(
            pending.contact_id,
            EventKind.CONFIRMED,
            pending.channel,
            pending.purpose,
            pending.scope,
            collection,
            notice_id=pending.notice_id,
            refers_to=pending.id,
        )
        now = clock()
        event = repository.append(session, principal, new, now)
        assert event is not None
        _lift_if_opted_back(session, event, now)
    return event


def revalidate(
    db: Database, principal: Principal, request: RevalidateRequest, clock: Clock = utc_now
) -> ConsentEvent:
    """Records the person's renewal of a consent asked again by the retention job (services
    only). Idempotent per cycle: the same cycle renewed twice records one event.

    The cycle's event must still decide its consent, or have just lapsed through the
    job's `expired` event (a late answer restores it); anything else the person or
    staff recorded since (a withdrawal, a new grant) stands.
    """
    principal.require_service()
    cycle_id, collection = valid_revalidation(request)
    with db.transaction() as session:
        cycle = repository.event(session, cycle_id)
        if cycle is None or cycle.kind not in POSITIVE or cycle.purpose is None:
            raise invalid("event_id", "no consent has this event id")
        key = policy.repeat_key(cycle.contact_id, "revalidated", (cycle.id,), [])
        already = repository.revalidation_of(session, cycle.id)
        if already is not None:
            return already
        assert cycle.channel is not None
        events = repository.stream(session, cycle.contact_id, cycle.channel, cycle.purpose)
        latest = [e for e in events if e.scope == cycle.scope][-1]
        if latest.id != cycle.id and not (
            latest.kind is EventKind.EXPIRED and latest.refers_to == cycle.id
        ):
            raise FailedPrecondition("this consent changed since the mail was sent")
        new = NewEvent(
            cycle.contact_id,
            EventKind.REVALIDATED,
            cycle.channel,
            cycle.purpose,
            cycle.scope,
            collection,
            notice_id=cycle.notice_id,
            refers_to=cycle.id,
        )
        now = clock()
        event = repository.append(session, principal, new, now, key)
        if event is None:  # a concurrent renewal of the same cycle won
            return repository.by_repeat_key(session, key)
        _lift_if_opted_back(session, event, now)
    return event


def _lift_if_opted_back(session: Session, event: ConsentEvent, now: datetime) -> None:
    """The person said yes again by their own act after objecting: unlist their addresses."""
    if event.how not in PERSON_MADE or event.channel is not Channel.EMAIL:
        return  # the cheap test first: most events are not the person's own
    if outbox.lifts_objection(event, repository.history(session, [event.contact_id])):
        repository.enqueue(session, outbox.lift_of(event), now)


def _checked(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    request: ChangeRequest,
    kind: EventKind,
    members: frozenset[str] | None = None,
) -> Change:
    """The change, once its input, its catalogue entries and its recorder are all checked.

    `members`: the contact's member components when the caller has them already.
    """
    change = valid_change(request, kind)
    with db.transaction() as session:
        _check_catalogue(session, change, active=kind is EventKind.GRANTED)
    if not policy.may_use_how(principal, change.collection.how):
        raise PermissionDenied(_HOW_REFUSAL)
    if members is None:
        members = _members(contacts, change.contact_id)
    if not policy.may_record(principal, kind, change.scope, members):
        raise PermissionDenied(_refusal(kind, change.scope))
    return change


def _check_catalogue(session: Session, change: Change, *, active: bool) -> None:
    purpose = repository.purpose(session, change.purpose)
    notice = repository.notice(session, change.notice_id) if change.notice_id else None
    catalogue_violations(
        change.purpose, change.channel, purpose, notice, change.notice_id, active=active
    )


def _new(change: Change, kind: EventKind) -> NewEvent:
    return NewEvent(
        contact_id=change.contact_id,
        kind=kind,
        channel=change.channel,
        purpose=change.purpose,
        scope=change.scope,
        collection=change.collection,
        legal_basis=change.legal_basis,
        text_shown=change.text_shown,
        notice_id=change.notice_id,
        pending=change.pending,
    )


def _require_reader(contacts: ContactDirectory, principal: Principal, contact_id: str) -> None:
    """NotFound for staff whose component is not a member: the same answer as for no contact."""
    if policy.reads_need_membership(principal):
        if principal.component not in _members(contacts, contact_id):
            raise NotFound("contact not found")


def _members(contacts: ContactDirectory, contact_id: str) -> frozenset[str]:
    """The member components of the contact; NotFound unless contacts knows it."""
    found = contacts.members([contact_id])
    if contact_id not in found:
        raise NotFound("contact not found")
    return found[contact_id]


_HOW_REFUSAL = "only mesh services record the person's own acts (links, mail) and the jobs"


def _refusal(kind: EventKind, scope: Scope) -> str:
    if scope.is_grouping and kind in (EventKind.WITHDRAWN, EventKind.OBJECTED):
        return "a grouping-wide withdrawal or objection by staff needs the dpo role"
    if scope.is_grouping:
        return "only administrators and mesh services may record for the whole grouping"
    return "staff record consent only for their own component, of a contact it is a member of"


# --- Reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPage:
    events: list[ConsentEvent]
    next_page_token: str


def history(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    contact_id: str,
    page_size: int = 0,
    page_token: str = "",
) -> HistoryPage:
    """One page of the events of one contact the caller may see, oldest first."""
    valid_contact_id(contact_id)
    size = page_tokens.page_size(page_size, DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE)
    if not policy.may_read_history(principal):
        raise PermissionDenied("reading consent history needs a token bound to a component")
    seen_by = policy.history_seen_by(principal)
    # Bound to the contact and to what the reader sees: a position means nothing elsewhere.
    binding = (contact_id, seen_by or "")
    after = page_tokens.after_int(page_token, HISTORY_LIST, *binding)
    _require_reader(contacts, principal, contact_id)
    with db.transaction() as session:
        rows = repository.history_page(session, contact_id, seen_by, after, size + 1)
    # Defence in depth: the rule decides again on what the query returned.
    events = [e for _, e in rows[:size] if policy.may_see(principal, e.scope)]
    more = len(rows) > size
    token = page_tokens.encode(HISTORY_LIST, (rows[size - 1][0],), *binding) if more else ""
    return HistoryPage(events, token)


@dataclass(frozen=True)
class State:
    entries: list[StateEntry]
    events: list[ConsentEvent]


def state(
    db: Database,
    contacts: ContactDirectory,
    principal: Principal,
    contact_id: str,
    at: datetime | None = None,
    professional_address: bool = False,
    clock: Clock = utc_now,
) -> State:
    """Per purpose x channel x scope the caller may see, the state as at `at` (default now)."""
    valid_contact_id(contact_id)
    if not policy.may_read_history(principal):
        raise PermissionDenied("reading consent state needs a token bound to a component")
    _require_reader(contacts, principal, contact_id)
    at = at or clock()
    with db.transaction() as session:
        survivor, group, merge_seq = merges.people(session, [contact_id])
        person = survivor[contact_id]
        events = [e for e in repository.history(session, group[person]) if e.recorded_at <= at]
        purposes = repository.purposes(session, include_inactive=True)
        rules = repository.rules(session)
    scopes = [s for s in policy.scopes_of(events) if policy.may_see(principal, s)]
    if principal.component and Scope.of(principal.component) not in scopes:
        scopes.append(Scope.of(principal.component))
    entries = policy.state(
        events,
        merge_seq.get(person),
        purposes,
        rules,
        policy.contact_kind(professional_address),
        scopes,
    )
    visible = [e for e in events if policy.may_see(principal, e.scope)]
    return State(entries, visible)


SUPPRESSED = Verdict(allowed=False, decision=Decision.SUPPRESSED, deciding_event_id=None)


def check_batch(
    db: Database, principal: Principal, request: BatchRequest, secret: bytes
) -> list[tuple[str, Verdict]]:
    """One verdict per requested item, in request order, in a bounded number of queries.

    No existence check here: campaigns resolves its recipients with contacts
    first, and an unknown id simply has no consent. An item whose address is on
    the suppression list is refused whatever its consent says: the list outlives
    the records (an erased person imported again under a new id).
    """
    principal.require_service()
    query = valid_batch(request)
    with db.transaction() as session:
        purpose = repository.purpose(session, query.purpose)
        catalogue_violations(query.purpose, query.channel, purpose)
        assert purpose is not None  # checked above
        if not query.items:
            return []
        rules = repository.rules(session, purpose.key)
        # Every id of a merged person is read together (merges.decide_batch).
        verdicts = merges.decide_batch(
            session, query.items, query.channel, purpose, rules, query.component
        )
        hashes = suppression.item_hashes(secret, [item.address for item in query.items])
        listed = repository.blocked(session, {h for h in hashes if h}) if any(hashes) else set()
    return [
        (contact_id, SUPPRESSED if digest and digest in listed else verdict)
        for (contact_id, verdict), digest in zip(verdicts, hashes, strict=True)
    ]
