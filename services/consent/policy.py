"""The consent rules: may a component reach a contact, and who may change or read consent.

For one contact, channel and purpose, the latest relevant event decides. An
event is relevant to a component when it applies to the whole grouping or to
that very component. So a withdrawal for the whole grouping, once recorded,
outranks every earlier grant of every component ("objection wins"), and a
grant one component collected never lets another component write.

Withdrawing is never harder than granting: whoever may grant a scope may also
withdraw it, and any caller acting for a component may withdraw for the whole
grouping.

Withdrawing what is already withdrawn records nothing: when every verdict the
withdrawal's scope speaks for is already WITHDRAWN, the event that decides it
stands for the repeat (a one-click link followed twice, a form sent again).
A grant in between makes the next withdrawal a new act again.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from meshkit.identity import Principal
from services.consent.domain import (
    Action,
    Change,
    Channel,
    ConsentEvent,
    Decision,
    LegalBasis,
    Scope,
    Verdict,
)

NO_EVENT = Verdict(allowed=False, decision=Decision.NO_CONSENT, deciding_event_id=None)


def applies_to(scope: Scope, component: str) -> bool:
    """Does a consent of this scope speak for this component?"""
    return scope.is_grouping or scope.component == component


def decide(events: Iterable[ConsentEvent], component: str) -> Verdict:
    """The verdict for one contact x channel x purpose, as seen by `component`."""
    relevant = [e for e in events if applies_to(e.scope, component)]
    if not relevant:
        return NO_EVENT
    last = max(relevant, key=lambda e: e.seq)
    if last.action is Action.WITHDRAW:
        return Verdict(allowed=False, decision=Decision.WITHDRAWN, deciding_event_id=last.id)
    if last.legal_basis is LegalBasis.LEGITIMATE_INTEREST:
        decision = Decision.LEGITIMATE_INTEREST
    else:
        decision = Decision.CONSENT_GIVEN
    return Verdict(allowed=True, decision=decision, deciding_event_id=last.id)


def decide_batch(
    events: Iterable[ConsentEvent],
    contact_ids: list[str],
    channel: Channel,
    purpose: str,
    component: str,
) -> list[tuple[str, Verdict]]:
    """One verdict per requested contact, in request order; other channels and purposes ignored."""
    by_contact: dict[str, list[ConsentEvent]] = defaultdict(list)
    for event in events:
        if event.channel == channel and event.purpose == purpose:
            by_contact[event.contact_id].append(event)
    return [(c, decide(by_contact.get(c, []), component)) for c in contact_ids]


def standing_withdrawal(events: Iterable[ConsentEvent], scope: Scope) -> ConsentEvent | None:
    """The recorded withdrawal that already decides `scope`, if any.

    `events` are those of one contact x channel x purpose. Not None exactly when
    a new withdrawal of `scope` would change no component's verdict: for one
    component, its verdict is already WITHDRAWN; for the whole grouping, so is
    the verdict of every component (each one named in an event, and any other,
    which only grouping events decide).
    """
    events = list(events)
    if not scope.is_grouping:
        assert scope.component is not None
        return _withdrawn_by(events, decide(events, scope.component))
    named = {e.scope.component for e in events if e.scope.component is not None}
    if any(decide(events, c).decision is not Decision.WITHDRAWN for c in named):
        return None
    # Any other component: only grouping events speak for it.
    return _withdrawn_by(events, decide([e for e in events if e.scope.is_grouping], ""))


def withdrawal_key(change: Change, events: Iterable[ConsentEvent]) -> str:
    """The same for two withdrawals of one scope made from the same state of its stream.

    The state is the latest event that bears on the scope's verdicts (for the
    grouping, any event of the stream). Stored unique, it lets exactly one of two
    concurrent identical withdrawals be written.
    """
    bearing = [e for e in events if scope_bears_on(e.scope, change.scope)]
    latest = max(bearing, key=lambda e: e.seq).id if bearing else ""
    parts = (
        change.contact_id,
        change.channel.value,
        change.purpose,
        change.scope.kind,
        change.scope.component or "",
        latest,
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def scope_bears_on(event_scope: Scope, scope: Scope) -> bool:
    """Can an event of `event_scope` change a verdict that `scope` speaks for?"""
    return scope.is_grouping or applies_to(event_scope, scope.component or "")


def _withdrawn_by(events: list[ConsentEvent], verdict: Verdict) -> ConsentEvent | None:
    if verdict.decision is not Decision.WITHDRAWN:
        return None
    return next(e for e in events if e.id == verdict.deciding_event_id)


def may_grant(principal: Principal, scope: Scope) -> bool:
    """Components grant for themselves; admins and mesh services for any scope."""
    if principal.is_admin or principal.is_service:
        return True
    return not scope.is_grouping and principal.component == scope.component


def may_withdraw(principal: Principal, scope: Scope) -> bool:
    """Everyone who may grant a scope, and any component for the whole grouping."""
    if may_grant(principal, scope):
        return True
    return scope.is_grouping and principal.component is not None


def may_read_history(principal: Principal) -> bool:
    """Reading consent history needs a component, or the admin or service role."""
    return principal.is_admin or principal.is_service or principal.component is not None


def may_see(principal: Principal, scope: Scope) -> bool:
    """A component sees grouping-wide events and its own; admins and services see all."""
    if principal.is_admin or principal.is_service:
        return True
    return principal.component is not None and applies_to(scope, principal.component)


def decide_person(events: Iterable[ConsentEvent], merge_seq: int | None, component: str) -> Verdict:
    """The verdict for one person whose records were merged (events of every id of it).

    Events recorded after the merge (seq > merge_seq) decide as for one record:
    the latest relevant one wins. Before any, the two records' histories are
    combined strictest first: a withdrawal standing on either record wins;
    otherwise a grant standing on either allows (the latest such grant decides);
    otherwise there is no consent.
    """
    events = list(events)
    if merge_seq is None:
        return decide(events, component)
    after = [e for e in events if e.seq > merge_seq and applies_to(e.scope, component)]
    if after:
        return decide(after, component)
    by_record: dict[str, list[ConsentEvent]] = defaultdict(list)
    for event in events:
        by_record[event.contact_id].append(event)
    verdicts = [decide(stream, component) for stream in by_record.values()]
    withdrawn = [v for v in verdicts if v.decision is Decision.WITHDRAWN]
    allowed = [v for v in verdicts if v.allowed]
    if withdrawn:
        return withdrawn[0]
    if allowed:
        seq_of = {e.id: e.seq for e in events}
        return max(allowed, key=lambda v: seq_of.get(v.deciding_event_id or "", 0))
    return NO_EVENT
