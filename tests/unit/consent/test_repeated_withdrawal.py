"""policy.standing_withdrawal: a withdrawal is a repeat exactly when it would change nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.consent import policy
from services.consent.domain import (
    Action,
    Change,
    Channel,
    Collection,
    ConsentEvent,
    How,
    LegalBasis,
    Question,
    Scope,
)
from tests.unit.consent.test_decide_properties import (
    COMPONENTS,
    _after,
    _event,
    decide,
    histories,
    scopes,
)

# Components named in the histories, and one that never is (only grouping events speak for it).
AUDIENCE = [*COMPONENTS, "never-named"]


def verdicts(events: list[ConsentEvent]) -> list[policy.Decision]:
    return [decide(events, c).decision for c in AUDIENCE]


def standing_of(events: list[ConsentEvent], scope: Scope) -> ConsentEvent | None:
    return policy.standing_withdrawal(events, scope, Question("news", Channel.EMAIL, None))


def withdrawn_again(events: list[ConsentEvent], scope: Scope) -> list[ConsentEvent]:
    seq = _after(events)
    # _event drops the legal basis of a withdrawal.
    withdrawal = _event(
        seq, "c1", Channel.EMAIL, "news", scope, Action.WITHDRAW, LegalBasis.CONSENT
    )
    return [*events, withdrawal]


@given(histories(), scopes)
def test_a_repeat_is_exactly_a_withdrawal_that_changes_no_verdict(
    events: list[ConsentEvent], scope: Scope
) -> None:
    standing = standing_of(events, scope)
    unchanged = verdicts(withdrawn_again(events, scope)) == verdicts(events)
    assert (standing is not None) == unchanged


@given(histories(), scopes)
def test_the_standing_event_is_a_withdrawal_that_decides_the_scope(
    events: list[ConsentEvent], scope: Scope
) -> None:
    standing = standing_of(events, scope)
    if standing is None:
        return
    assert standing in events and standing.action is Action.WITHDRAW
    assert standing.scope.is_grouping or standing.scope == scope
    # For the grouping, the event that decides for a component no event names.
    decided_for = scope.component or "never-named"
    assert decide(events, decided_for).deciding_event_id == standing.id


def change(scope: Scope) -> Change:
    return Change("c1", Channel.EMAIL, "news", scope, None, Collection(How.ONE_CLICK, "one-click"))


def test_grant_withdraw_grant_withdraw_are_each_new() -> None:
    events: list[ConsentEvent] = []
    for action in (Action.GRANT, Action.WITHDRAW, Action.GRANT, Action.WITHDRAW):
        if action is Action.WITHDRAW:
            assert standing_of(events, Scope.grouping()) is None
        events.append(
            _event(
                _after(events),
                "c1",
                Channel.EMAIL,
                "news",
                Scope.of("law"),
                action,
                LegalBasis.CONSENT,
            )
        )
    assert standing_of(events, Scope.of("law")) == events[-1]


@given(histories(), scopes)
def test_two_withdrawals_from_one_state_share_their_key(
    events: list[ConsentEvent], scope: Scope
) -> None:
    key = policy.withdrawal_key(change(scope), events)
    assert key == policy.withdrawal_key(change(scope), list(events))
    assert len(key) == 64
    # Once a withdrawal that bears on the scope is recorded, the next one has another key.
    assert policy.withdrawal_key(change(scope), withdrawn_again(events, scope)) != key


@given(histories(), st.sampled_from(COMPONENTS))
def test_the_key_differs_between_scopes(events: list[ConsentEvent], component: str) -> None:
    assert policy.withdrawal_key(change(Scope.grouping()), events) != policy.withdrawal_key(
        change(Scope.of(component)), events
    )
