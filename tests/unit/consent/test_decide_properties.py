"""Properties of policy.decide that must hold for every possible history."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.consent import policy
from services.consent.domain import (
    Action,
    Channel,
    ConsentEvent,
    Decision,
    EventKind,
    LegalBasis,
    Question,
    Scope,
)

COMPONENTS = ["law", "sciences", "medicine"]
WHEN = datetime(2024, 1, 1, tzinfo=UTC)

scopes = st.one_of(st.just(Scope.grouping()), st.sampled_from(COMPONENTS).map(Scope.of))
components = st.sampled_from(COMPONENTS)
# The bases a grant event carries (others come from the basis rules, not from events).
GRANT_BASES = [LegalBasis.CONSENT, LegalBasis.LEGITIMATE_INTEREST]
KINDS = {Action.GRANT: EventKind.GRANTED, Action.WITHDRAW: EventKind.WITHDRAWN}


def decide(events: list[ConsentEvent], component: str, purpose: str = "news") -> policy.Verdict:
    """The e-mail verdict for `purpose`, as `component` sees it, with consent as the basis."""
    return policy.decide(events, Question(purpose, Channel.EMAIL, component))


@st.composite
def histories(
    draw: st.DrawFn, contact_id: str = "c1", channel: Channel = Channel.EMAIL, purpose: str = "news"
) -> list[ConsentEvent]:
    """Events of one contact x channel x purpose, with increasing (gapped) seq."""
    count = draw(st.integers(0, 12))
    seqs = sorted(draw(st.sets(st.integers(1, 10_000), min_size=count, max_size=count)))
    return [
        _event(
            seq,
            contact_id,
            channel,
            purpose,
            draw(scopes),
            draw(st.sampled_from(Action)),
            draw(st.sampled_from(GRANT_BASES)),
        )
        for seq in seqs
    ]


def _event(
    seq: int,
    contact_id: str,
    channel: Channel,
    purpose: str,
    scope: Scope,
    action: Action,
    basis: LegalBasis,
) -> ConsentEvent:
    return ConsentEvent(
        seq=seq,
        id=f"e{seq}-{contact_id}-{channel}-{purpose}",
        contact_id=contact_id,
        channel=channel,
        purpose=purpose,
        scope=scope,
        kind=KINDS[action],
        legal_basis=basis if action is Action.GRANT else None,
        actor_subject="someone",
        actor_component=None,
        source="test",
        text_shown="text",
        recorded_at=WHEN,
    )


def _after(events: list[ConsentEvent]) -> int:
    return max((e.seq for e in events), default=0) + 1


@given(histories(), components)
def test_a_grouping_withdrawal_appended_last_denies_every_component(
    events: list[ConsentEvent], _: str
) -> None:
    withdrawal = _event(
        _after(events),
        "c1",
        Channel.EMAIL,
        "news",
        Scope.grouping(),
        Action.WITHDRAW,
        LegalBasis.CONSENT,
    )
    for component in COMPONENTS:
        verdict = decide([*events, withdrawal], component)
        assert not verdict.allowed
        assert verdict.decision is Decision.WITHDRAWN
        assert verdict.deciding_event_id == withdrawal.id


@given(histories(), components, components, st.sampled_from(GRANT_BASES))
def test_a_grant_scoped_to_one_component_never_allows_another(
    events: list[ConsentEvent], granted_to: str, other: str, basis: LegalBasis
) -> None:
    if granted_to == other:
        return
    grant = _event(
        _after(events), "c1", Channel.EMAIL, "news", Scope.of(granted_to), Action.GRANT, basis
    )
    assert decide([*events, grant], other) == decide(events, other)
    assert decide([*events, grant], granted_to).allowed


@given(histories(), components)
def test_whatever_allows_a_component_is_a_grant_of_its_own_or_grouping_scope(
    events: list[ConsentEvent], component: str
) -> None:
    verdict = decide(events, component)
    if verdict.allowed:
        decider = next(e for e in events if e.id == verdict.deciding_event_id)
        assert decider.action is Action.GRANT
        assert decider.scope in (Scope.grouping(), Scope.of(component))


@given(
    histories("c1", Channel.EMAIL, "news"),
    histories("c2", Channel.EMAIL, "news"),
    histories("c1", Channel.SMS, "news"),
    histories("c1", Channel.EMAIL, "events"),
    components,
)
def test_events_of_other_contacts_channels_and_purposes_never_change_a_decision(
    mine: list[ConsentEvent],
    other_contact: list[ConsentEvent],
    other_channel: list[ConsentEvent],
    other_purpose: list[ConsentEvent],
    component: str,
) -> None:
    noise = other_contact + other_channel + other_purpose
    everything = sorted(mine + noise, key=lambda e: (e.seq, e.id))
    # Each contact's events are read alone (the repository groups them by person).
    mixed = [e for e in everything if e.contact_id == "c1"]
    assert decide(mixed, component) == decide(mine, component)


@given(histories(), components, st.randoms(use_true_random=False))
def test_only_the_last_relevant_event_decides(
    events: list[ConsentEvent], component: str, rng: random.Random
) -> None:
    relevant = [e for e in events if policy.applies_to(e.scope, component)]
    verdict = decide(events, component)
    if not relevant:
        assert verdict == policy.NO_EVENT
        return
    last = relevant[-1]
    assert verdict == decide([last], component)
    # Neither the order events arrive in nor anything before the last one matters.
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert decide(shuffled, component) == verdict
    flipped = [e if e is last else _flip(e) for e in events]
    assert decide(flipped, component) == verdict


def _flip(event: ConsentEvent) -> ConsentEvent:
    if event.action is Action.GRANT:
        return replace(event, kind=EventKind.WITHDRAWN, legal_basis=None)
    return replace(event, kind=EventKind.GRANTED, legal_basis=LegalBasis.CONSENT)


@given(histories(), components)
def test_the_decision_names_the_deciding_event_and_matches_its_action(
    events: list[ConsentEvent], component: str
) -> None:
    verdict = decide(events, component)
    expected = {
        Decision.CONSENT_GIVEN: (True, Action.GRANT, LegalBasis.CONSENT),
        Decision.LEGITIMATE_INTEREST: (True, Action.GRANT, LegalBasis.LEGITIMATE_INTEREST),
        Decision.WITHDRAWN: (False, Action.WITHDRAW, None),
    }
    if verdict.decision is Decision.NO_CONSENT:
        assert verdict.deciding_event_id is None and not verdict.allowed
        return
    decider = next(e for e in events if e.id == verdict.deciding_event_id)
    assert (verdict.allowed, decider.action, decider.legal_basis) == expected[verdict.decision]


def test_no_event_means_no_consent() -> None:
    assert decide([], "law") == policy.NO_EVENT
    assert not policy.NO_EVENT.allowed
    assert policy.NO_EVENT.decision is Decision.NO_CONSENT


def test_a_later_component_grant_overrides_an_earlier_grouping_withdrawal_for_that_component() -> (
    None
):
    withdrawal = _event(
        1, "c1", Channel.EMAIL, "news", Scope.grouping(), Action.WITHDRAW, LegalBasis.CONSENT
    )
    regrant = _event(
        2, "c1", Channel.EMAIL, "news", Scope.of("law"), Action.GRANT, LegalBasis.CONSENT
    )
    assert decide([withdrawal, regrant], "law").allowed
    assert decide([withdrawal, regrant], "sciences").decision is Decision.WITHDRAWN
