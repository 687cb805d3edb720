"""The retention job acts on exactly the consents in force on the consent basis, each
counted from its last positive act: checked against a plain replay of the events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.consent.domain import (
    Channel,
    ConsentEvent,
    EventKind,
    LegalBasis,
    Purpose,
    Scope,
)
from services.consent.retention import in_force
from tests.unit.consent.test_state_model import PURPOSES, histories

CATALOGUE = {
    key: Purpose(
        key, None, key, key, frozenset({Channel.EMAIL, Channel.SMS}), marketing, retention_months=m
    )
    for (key, marketing), m in zip(PURPOSES.items(), (36, 24, 12), strict=True)
}
Key = tuple[str, Channel, Scope]


def replayed(events: list[ConsentEvent]) -> dict[Key, ConsentEvent]:
    """Per purpose x channel x exact scope, the event that keeps the consent alive, if any."""
    alive: dict[Key, ConsentEvent | None] = {}
    for event in sorted(events, key=lambda e: e.seq):
        if event.kind is EventKind.OBJECTED:
            for key in alive:
                purpose, channel, _scope = key
                if PURPOSES[purpose] and event.channel in (None, channel):
                    alive[key] = None
            continue
        assert event.purpose is not None and event.channel is not None
        key = (event.purpose, event.channel, event.scope)
        current = alive.get(key)
        if event.kind is EventKind.CONFIRMED:
            if current is not None and current.pending and current.id == event.refers_to:
                alive[key] = event
            continue
        alive[key] = event if event.kind in _ALIVE else None
    return {
        key: event
        for key, event in alive.items()
        if event is not None and not event.pending and _consent(event)
    }


_ALIVE = {EventKind.GRANTED, EventKind.REVALIDATED}


def _consent(event: ConsentEvent) -> bool:
    return event.kind is not EventKind.GRANTED or event.legal_basis is LegalBasis.CONSENT


@given(histories())
def test_the_selection_is_the_replay(events: list[ConsentEvent]) -> None:
    held = in_force(events, CATALOGUE)
    expected = replayed(events)
    assert {(h.purpose, h.channel, h.scope): h.standing.last_positive_event_id for h in held} == {
        key: event.id for key, event in expected.items()
    }
    for h in held:
        event = expected[(h.purpose, h.channel, h.scope)]
        assert h.standing.last_positive_at == event.recorded_at
        assert h.standing.retention_months == CATALOGUE[h.purpose].retention_months


@given(histories(), st.sampled_from(sorted(PURPOSES)))
def test_a_purpose_outside_the_catalogue_is_never_acted_on(
    events: list[ConsentEvent], missing: str
) -> None:
    catalogue = {k: p for k, p in CATALOGUE.items() if k != missing}
    assert all(h.purpose != missing for h in in_force(events, catalogue))
