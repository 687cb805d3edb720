"""The state at any time T, derived by the policy, agrees with a naive reference model.

The model below is written separately and deliberately plainly: it replays the
events recorded up to T in seq order and keeps, in a dict, the state of every
purpose x channel x view (a component, or the grouping-wide view).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.consent import policy
from services.consent.domain import (
    Channel,
    ConsentEvent,
    Decision,
    EventKind,
    How,
    LegalBasis,
    Question,
    Scope,
)

COMPONENTS = ["law", "sciences"]
VIEWS: list[str | None] = [None, *COMPONENTS]
PURPOSES = {"newsletter": True, "alumni": True, "tax_receipt": False}  # key: marketing
CHANNELS = [Channel.EMAIL, Channel.SMS]
START = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def histories(draw: st.DrawFn) -> list[ConsentEvent]:
    """Events of one contact: every kind, scope and channel, pending grants and
    confirmations (of real or unknown grants), with times in any order."""
    count = draw(st.integers(0, 25))
    events: list[ConsentEvent] = []
    for seq in range(1, count + 1):
        kind = draw(st.sampled_from(EventKind))
        when = START + timedelta(hours=draw(st.integers(0, 100)))
        event_id = f"e{seq}"
        if kind is EventKind.OBJECTED:
            channel = draw(st.sampled_from([None, *CHANNELS]))
            events.append(_event(seq, event_id, kind, None, channel, Scope.grouping(), when))
            continue
        if kind is EventKind.CONFIRMED:
            grants = [e for e in events if e.kind is EventKind.GRANTED]
            if grants and draw(st.booleans()):
                grant = draw(st.sampled_from(grants))
                events.append(
                    _event(
                        seq,
                        event_id,
                        kind,
                        grant.purpose,
                        grant.channel,
                        grant.scope,
                        when,
                        refers_to=grant.id,
                    )
                )
                continue
            refers_to = "nowhere"
        else:
            refers_to = None
        purpose = draw(st.sampled_from(sorted(PURPOSES)))
        channel = draw(st.sampled_from(CHANNELS))
        scope = draw(st.sampled_from([Scope.grouping(), *(Scope.of(c) for c in COMPONENTS)]))
        pending = kind is EventKind.GRANTED and draw(st.booleans())
        events.append(
            _event(
                seq,
                event_id,
                kind,
                purpose,
                channel,
                scope,
                when,
                pending=pending,
                refers_to=refers_to,
            )
        )
    return events


def _event(
    seq: int,
    event_id: str,
    kind: EventKind,
    purpose: str | None,
    channel: Channel | None,
    scope: Scope,
    when: datetime,
    *,
    pending: bool = False,
    refers_to: str | None = None,
) -> ConsentEvent:
    return ConsentEvent(
        seq=seq,
        id=event_id,
        contact_id="c1",
        kind=kind,
        channel=channel,
        purpose=purpose,
        scope=scope,
        legal_basis=LegalBasis.CONSENT if kind is EventKind.GRANTED else None,
        actor_subject="someone",
        actor_component=None,
        source="test",
        text_shown=None,
        recorded_at=when,
        how=How.STAFF,
        pending=pending,
        refers_to=refers_to,
    )


def naive_states(
    events: list[ConsentEvent], at: datetime
) -> dict[tuple[str, Channel, str | None], tuple[str, str | None]]:
    """(purpose, channel, view) -> (state word, id of the event that set it), up to `at`."""
    states: dict[tuple[str, Channel, str | None], tuple[str, str | None]] = {
        (p, c, v): ("none", None) for p in PURPOSES for c in CHANNELS for v in VIEWS
    }
    for event in sorted(events, key=lambda e: e.seq):
        if event.recorded_at > at:
            continue
        for (purpose, channel, view), (word, by) in list(states.items()):
            if event.kind is EventKind.OBJECTED:
                if PURPOSES[purpose] and event.channel in (None, channel):
                    states[(purpose, channel, view)] = ("objected", event.id)
                continue
            if event.purpose != purpose or event.channel != channel:
                continue
            if not (event.scope.is_grouping or event.scope.component == view):
                continue
            if event.kind is EventKind.CONFIRMED:
                if word == "pending" and by == event.refers_to:
                    states[(purpose, channel, view)] = ("allowed", event.id)
            elif event.kind is EventKind.GRANTED:
                states[(purpose, channel, view)] = (
                    ("pending" if event.pending else "allowed"),
                    event.id,
                )
            elif event.kind is EventKind.REVALIDATED:
                states[(purpose, channel, view)] = ("allowed", event.id)
            else:
                states[(purpose, channel, view)] = (event.kind.value, event.id)
    return states


WORDS = {
    Decision.CONSENT_GIVEN: "allowed",
    Decision.PENDING: "pending",
    Decision.WITHDRAWN: "withdrawn",
    Decision.DENIED: "denied",
    Decision.OBJECTED: "objected",
    Decision.EXPIRED: "expired",
    Decision.NO_CONSENT: "none",
}


@settings(max_examples=300)
@given(histories(), st.integers(-1, 101))
def test_state_at_any_time_agrees_with_the_naive_model(
    events: list[ConsentEvent], hours: int
) -> None:
    at = START + timedelta(hours=hours)
    expected = naive_states(events, at)
    for (purpose, channel, view), (word, by) in expected.items():
        question = Question(purpose, channel, view, PURPOSES[purpose], LegalBasis.CONSENT)
        verdict = policy.decide(events, question, at)
        assert (WORDS[verdict.decision], verdict.deciding_event_id) == (word, by)
        assert verdict.allowed == (word == "allowed")


@given(histories(), st.integers(-1, 101), st.sampled_from(list(LegalBasis)))
def test_a_basis_other_than_consent_allows_only_until_a_refusal(
    events: list[ConsentEvent], hours: int, basis: LegalBasis
) -> None:
    at = START + timedelta(hours=hours)
    for (purpose, channel, view), (word, _by) in naive_states(events, at).items():
        question = Question(purpose, channel, view, PURPOSES[purpose], basis)
        verdict = policy.decide(events, question, at)
        if word == "none":
            assert verdict.allowed == (basis is not LegalBasis.CONSENT)
            assert verdict.deciding_event_id is None
            assert verdict.basis == (None if basis is LegalBasis.CONSENT else basis)
        else:
            assert verdict.allowed == (word == "allowed")


@given(histories())
def test_the_state_rpc_shape_covers_every_purpose_channel_and_scope(
    events: list[ConsentEvent],
) -> None:
    from services.consent.domain import Purpose

    purposes = [
        Purpose(key, None, key, key, frozenset(CHANNELS), marketing)
        for key, marketing in PURPOSES.items()
    ]
    scopes = policy.scopes_of(events)
    entries = policy.state(events, None, purposes, [], policy.contact_kind(False), scopes)
    assert len(entries) == len(PURPOSES) * len(CHANNELS) * len(scopes)
    for entry in entries:
        question = Question(
            entry.purpose, entry.channel, entry.scope.component, PURPOSES[entry.purpose]
        )
        assert entry.verdict == policy.decide(events, question)
