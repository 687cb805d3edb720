"""The consent rules: may a component reach a contact, on which basis, and who may record what.

For one contact, purpose and channel, as seen by one component, the latest
event that bears on it decides. An event bears on a component when it is about
that purpose and channel and applies to the whole grouping or to that very
component; an Art. 21 objection bears on every marketing purpose, for every
component, on its channel (or on every channel when it names none). So an
objection, once recorded, outranks every earlier grant of every component
("objection wins") until the person grants again for a purpose.

A pending grant (double opt-in) decides "pending" and allows nothing until a
confirmation refers to it while it still stands. With no event at all, the
basis rule of the purpose, channel and kind of contact decides: consent allows
nothing, while legitimate interest, contract and legal obligation allow, and
the person keeps the right to object or withdraw (any negative event wins).

Staff record events only for contacts their component is a member of, only
for their own component's scope; a grouping-wide withdrawal or objection by
staff needs the data-protection role. Mesh services (the person's own acts,
through a signed link or an inbound mail) and administrators may use any scope.
Withdrawing is never harder than granting.

Withdrawing or objecting again what already stands records nothing: the event
that decides stands for the repeat (a one-click link followed twice).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import TypeVar

from meshkit.identity import Principal
from meshkit.roles import Role
from services.consent.domain import (
    PERSON_MADE,
    POSITIVE,
    BasisRule,
    Change,
    Channel,
    ConsentEvent,
    ContactKind,
    Decision,
    EventFacts,
    EventKind,
    How,
    LegalBasis,
    Purpose,
    Question,
    Scope,
    StateEntry,
    Verdict,
)

E = TypeVar("E", bound=EventFacts)
_SEQ = attrgetter("seq")

# With no rule for a purpose x channel x kind of contact: the strictest basis.
DEFAULT_BASIS = LegalBasis.CONSENT
NO_EVENT = Verdict(allowed=False, decision=Decision.NO_CONSENT, deciding_event_id=None)

_NEGATIVE = {
    EventKind.WITHDRAWN: Decision.WITHDRAWN,
    EventKind.DENIED: Decision.DENIED,
    EventKind.OBJECTED: Decision.OBJECTED,
    EventKind.EXPIRED: Decision.EXPIRED,
}
_BASIS_DECISION = {
    LegalBasis.LEGITIMATE_INTEREST: Decision.LEGITIMATE_INTEREST,
    LegalBasis.CONTRACT: Decision.CONTRACT,
    LegalBasis.LEGAL_OBLIGATION: Decision.LEGAL_OBLIGATION,
}


def applies_to(scope: Scope, component: str | None) -> bool:
    """Does a consent of this scope speak for this component (None: the grouping view)?"""
    return scope.is_grouping or scope.component == component


def bears_on(event: EventFacts, question: Question) -> bool:
    """Can this event change the verdict the question asks for?"""
    if event.kind is EventKind.OBJECTED:
        return question.marketing and event.channel in (None, question.channel)
    return (
        event.purpose == question.purpose
        and event.channel == question.channel
        and applies_to(event.scope, question.component)
    )


def standing_event(events: Iterable[E], question: Question) -> E | None:
    """The event that decides the question: the latest that bears on it, in seq order.

    A confirmation counts only when the pending grant it refers to still stands.
    """
    return _latest_standing(sorted((e for e in events if bears_on(e, question)), key=_SEQ))


def _latest_standing(bearing: Iterable[E]) -> E | None:
    """standing_event of events that all bear on the question, in seq order."""
    standing: E | None = None
    for event in bearing:
        if event.kind is EventKind.CONFIRMED:
            if standing is not None and standing.pending and standing.id == event.refers_to:
                standing = event
            continue
        standing = event
    return standing


def verdict_of(standing: EventFacts | None, basis: LegalBasis) -> Verdict:
    """The verdict a standing event (or none, then the basis rule) gives."""
    if standing is None:
        if basis is LegalBasis.CONSENT:
            return NO_EVENT
        return Verdict(True, _BASIS_DECISION[basis], None, basis)
    if standing.kind in _NEGATIVE:
        return Verdict(False, _NEGATIVE[standing.kind], standing.id)
    if standing.pending:
        return Verdict(False, Decision.PENDING, standing.id)
    if standing.legal_basis is LegalBasis.LEGITIMATE_INTEREST:
        # A grant recorded on legitimate interest (the first API version allowed it).
        return Verdict(True, Decision.LEGITIMATE_INTEREST, standing.id, standing.legal_basis)
    return Verdict(True, Decision.CONSENT_GIVEN, standing.id, LegalBasis.CONSENT)


def decide(
    events: Iterable[ConsentEvent], question: Question, at: datetime | None = None
) -> Verdict:
    """The verdict for one contact (its events), as at `at` (None: every event recorded)."""
    if at is not None:
        events = [e for e in events if e.recorded_at <= at]
    return verdict_of(standing_event(events, question), question.basis)


def decide_person(
    events: Iterable[EventFacts], merge_seq: int | None, question: Question
) -> Verdict:
    """The verdict for one person whose records were merged (events of every id of it).

    Events recorded after the merge (seq > merge_seq) decide as for one record.
    Before any, the records' histories are combined strictest first: an event
    refusing on either record wins; otherwise an event allowing on either; of
    two such, the later (so the order the events come in never matters);
    otherwise the basis rule.
    """
    bearing = [e for e in events if bears_on(e, question)]
    bearing.sort(key=_SEQ)
    if merge_seq is None:
        return verdict_of(_latest_standing(bearing), question.basis)
    after_merge = [e for e in bearing if e.seq > merge_seq]
    if after_merge:
        return verdict_of(_latest_standing(after_merge), question.basis)
    by_record: dict[str, list[EventFacts]] = defaultdict(list)
    for event in bearing:
        by_record[event.contact_id].append(event)
    standing = [_latest_standing(stream) for stream in by_record.values()]
    decided = [(event, verdict_of(event, question.basis)) for event in standing if event]
    if not decided:
        return verdict_of(None, question.basis)
    refused = [(event, verdict) for event, verdict in decided if not verdict.allowed]
    return max(refused or decided, key=lambda pair: pair[0].seq)[1]


def contact_kind(professional_address: bool) -> ContactKind:
    """A business contact is one reached at a professional address; anyone else a consumer."""
    return ContactKind.BUSINESS if professional_address else ContactKind.CONSUMER


def basis_for(
    rules: Iterable[BasisRule], purpose: str, channel: Channel, kind: ContactKind
) -> LegalBasis:
    """The basis the rules give a purpose x channel x kind of contact; consent when none does."""
    for rule in rules:
        if (rule.purpose, rule.channel, rule.contact_kind) == (purpose, channel, kind):
            return rule.basis
    return DEFAULT_BASIS


def state(
    events: Sequence[ConsentEvent],
    merge_seq: int | None,
    purposes: Iterable[Purpose],
    rules: Iterable[BasisRule],
    kind: ContactKind,
    scopes: Iterable[Scope],
    at: datetime | None = None,
) -> list[StateEntry]:
    """The state of every purpose x channel it uses x scope, for one person, as at `at`."""
    rules = list(rules)
    events = [e for e in events if at is None or e.recorded_at <= at]
    entries = []
    for purpose in sorted(purposes, key=lambda p: p.key):
        for channel in sorted(purpose.channels):
            basis = basis_for(rules, purpose.key, channel, kind)
            for scope in scopes:
                question = Question(purpose.key, channel, scope.component, purpose.marketing, basis)
                verdict = decide_person(events, merge_seq, question)
                entries.append(StateEntry(purpose.key, channel, scope, verdict))
    return entries


def scopes_of(events: Iterable[ConsentEvent]) -> list[Scope]:
    """The grouping, then every component some event names, in name order."""
    named = sorted({e.scope.component for e in events if e.scope.component is not None})
    return [Scope.grouping(), *(Scope.of(c) for c in named)]


# --- Repeats ---------------------------------------------------------------------------------


def standing_withdrawal(
    events: Iterable[ConsentEvent], scope: Scope, question: Question
) -> ConsentEvent | None:
    """The recorded withdrawal that already decides `scope` for the question, if any.

    Not None exactly when a new withdrawal of `scope` would change no
    component's verdict: for one component, its verdict is already WITHDRAWN;
    for the whole grouping, so is the verdict of every component (each one
    named in an event, and any other, which only grouping events decide).
    """
    events = list(events)
    views: list[str | None] = [scope.component] if not scope.is_grouping else [None]
    if scope.is_grouping:
        views += sorted({e.scope.component for e in events if e.scope.component is not None})
    standing: ConsentEvent | None = None
    for view in views:
        event = standing_event(events, _viewed(question, view))
        if event is None or event.kind is not EventKind.WITHDRAWN:
            return None
        if view == scope.component:
            standing = event
    return standing


def standing_objection(
    events: Iterable[ConsentEvent], channel: Channel | None
) -> ConsentEvent | None:
    """The recorded objection a new one on `channel` would repeat, if any.

    It is the latest objection on the same channel (or on every channel), with no
    event after it that allows anything (a grant, revalidation or confirmation).
    """
    latest: ConsentEvent | None = None
    for event in sorted(events, key=lambda e: e.seq):
        if event.kind is EventKind.OBJECTED and event.channel == channel:
            latest = event
        elif event.kind in POSITIVE and (channel is None or event.channel == channel):
            latest = None
    return latest


def repeat_key(
    contact_id: str, act: str, parts: Sequence[str], events: Iterable[ConsentEvent]
) -> str:
    """The same for two identical acts made from the same state of the contact's events.

    Stored unique, it lets exactly one of two concurrent identical withdrawals
    (or objections) be written.
    """
    latest = max((e.seq for e in events), default=0)
    text = "\x1f".join((contact_id, act, *parts, str(latest)))
    return hashlib.sha256(text.encode()).hexdigest()


def withdrawal_key(change: Change, events: Iterable[ConsentEvent]) -> str:
    """The repeat key of a withdrawal: its contact, channel, purpose, scope and state."""
    parts = (change.channel.value, change.purpose, change.scope.kind, change.scope.component or "")
    bearing = [e for e in events if scope_bears_on(e.scope, change.scope)]
    return repeat_key(change.contact_id, "withdrawn", parts, bearing)


def scope_bears_on(event_scope: Scope, scope: Scope) -> bool:
    """Can an event of `event_scope` change a verdict that `scope` speaks for?"""
    return scope.is_grouping or applies_to(event_scope, scope.component)


def _viewed(question: Question, component: str | None) -> Question:
    return Question(
        question.purpose, question.channel, component, question.marketing, question.basis
    )


# --- Who may record and read what ------------------------------------------------------------

_SERVICE_ONLY_HOWS = frozenset(
    {How.ONE_CLICK, How.PREFERENCE_PAGE, How.INBOUND_MAIL, How.REVALIDATION_JOB, How.RETENTION_JOB}
)
_SERVICE_ONLY_KINDS = frozenset({EventKind.EXPIRED, EventKind.REVALIDATED, EventKind.CONFIRMED})


def is_staff(principal: Principal) -> bool:
    """Neither an administrator nor a mesh service: a person of a component (or the DPO)."""
    return not (principal.is_admin or principal.is_service)


def may_record(principal: Principal, kind: EventKind, scope: Scope, members: Iterable[str]) -> bool:
    """May this caller record an event of `kind` for `scope`, about a contact of `members`?

    Staff record only for contacts their component is a member of, for their own
    component; a grouping-wide withdrawal or objection needs the dpo role (and,
    for a component's DPO, membership too). Services and administrators: any scope.
    """
    if not is_staff(principal):
        return True
    if kind in _SERVICE_ONLY_KINDS:
        return False
    members = frozenset(members)
    member = principal.component is not None and principal.component in members
    if scope.is_grouping:
        if kind not in (EventKind.WITHDRAWN, EventKind.OBJECTED):
            return False
        return principal.has_role(Role.DPO) and (principal.component is None or member)
    return member and scope.component == principal.component


def may_use_how(principal: Principal, how: How) -> bool:
    """The person's own acts through a link or a mail, and the jobs, are recorded by services."""
    return not is_staff(principal) or how not in _SERVICE_ONLY_HOWS


def is_person_made(how: How) -> bool:
    """Did the person make this act (then the IP address and user agent are kept)?"""
    return how in PERSON_MADE


def may_grant(principal: Principal, scope: Scope, members: Iterable[str] = ()) -> bool:
    """Staff grant for their own component, of a contact it knows; admins and services any."""
    return may_record(principal, EventKind.GRANTED, scope, members)


def may_withdraw(principal: Principal, scope: Scope, members: Iterable[str] = ()) -> bool:
    """Everyone who may grant a scope; the grouping: admins, services and the DPO."""
    return may_record(principal, EventKind.WITHDRAWN, scope, members)


def may_read_history(principal: Principal) -> bool:
    """Reading consent history needs a component, or the admin, service or dpo role."""
    return (
        principal.is_admin
        or principal.is_service
        or principal.has_role(Role.DPO)
        or principal.component is not None
    )


def reads_need_membership(principal: Principal) -> bool:
    """Staff read a contact's consent only when their component is a member of it.

    Admins, mesh services and the grouping's DPO read any contact's; anyone else
    (a token bound to a component) must be placed on the contact first, so a
    component never learns from consent who another component knows.
    """
    if principal.is_admin or principal.is_service:
        return False
    return principal.component is not None


def history_seen_by(principal: Principal) -> str | None:
    """The component whose events a history reader sees besides the grouping's; None:
    every event (the rule of may_see, for a reader may_read_history admits)."""
    if principal.is_admin or principal.is_service or principal.component is None:
        return None
    return principal.component


def may_see(principal: Principal, scope: Scope) -> bool:
    """A component sees grouping-wide events and its own; admins, services and the DPO all."""
    if principal.is_admin or principal.is_service:
        return True
    if principal.component is None:
        return principal.has_role(Role.DPO)
    return applies_to(scope, principal.component)
