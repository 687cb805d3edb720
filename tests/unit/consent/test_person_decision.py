"""The verdict for a merged person agrees with a naive model, whatever order its events come in.

The batched check reads events as tuples (BatchEvent), in whatever order the
database returns them; the state reads ConsentEvents in seq order. Both must
give the same verdict, the one the model below gives: after the merge, the
events recorded since decide as for one record; before, the strictest of the
records' verdicts (a refusal on either wins, the later of two), else the basis.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from services.consent import policy
from services.consent.domain import (
    BatchEvent,
    Channel,
    ConsentEvent,
    EventKind,
    LegalBasis,
    Question,
)
from tests.unit.consent.test_state_model import CHANNELS, PURPOSES, START, VIEWS, histories
from tests.unit.consent.test_state_model import naive_states as naive_record

RECORDS = ["survivor", "merged"]
REFUSING = {"pending", "withdrawn", "denied", "objected", "expired"}


@st.composite
def merged_histories(draw: st.DrawFn) -> tuple[list[ConsentEvent], int | None]:
    """Events spread over two records, and the last seq at their merge (None: not merged)."""
    events = [replace(e, contact_id=draw(st.sampled_from(RECORDS))) for e in draw(histories())]
    merge_seq = draw(st.none() | st.integers(0, len(events) + 1))
    return events, merge_seq


def naive_person(
    events: list[ConsentEvent],
    merge_seq: int | None,
    purpose: str,
    channel: Channel,
    view: str | None,
) -> tuple[str, str | None]:
    """(state word, deciding event id) for the person, replayed plainly."""
    far_future = START.replace(year=2100)

    def one(stream: list[ConsentEvent]) -> tuple[str, str | None]:
        return naive_record(stream, far_future)[(purpose, channel, view)]

    def bears(e: ConsentEvent) -> bool:
        if e.kind is EventKind.OBJECTED:
            return PURPOSES[purpose] and e.channel in (None, channel)
        in_view = e.scope.is_grouping or e.scope.component == view
        return e.purpose == purpose and e.channel == channel and in_view

    if merge_seq is None:
        return one(events)
    after = [e for e in events if e.seq > merge_seq]
    if any(bears(e) for e in after):
        return one(after)
    seq_of = {e.id: e.seq for e in events}
    decided = [one([e for e in events if e.contact_id == r]) for r in RECORDS]
    decided = [(word, by) for word, by in decided if by is not None]
    refused = [(word, by) for word, by in decided if word in REFUSING]
    if not decided:
        return ("none", None)
    return max(refused or decided, key=lambda pair: seq_of[pair[1] or ""])


def as_batch_event(event: ConsentEvent) -> BatchEvent:
    return BatchEvent(
        event.seq,
        event.id,
        event.contact_id,
        event.kind,
        event.channel,
        event.purpose,
        event.scope,
        event.legal_basis,
        event.pending,
        event.refers_to,
    )


WORDS = {
    "consent_given": "allowed",
    "pending": "pending",
    "withdrawn": "withdrawn",
    "denied": "denied",
    "objected": "objected",
    "expired": "expired",
    "no_consent": "none",
}


@settings(max_examples=400)
@given(merged_histories(), st.randoms(use_true_random=False))
def test_a_merged_persons_verdict_agrees_with_the_model_in_any_order(
    history: tuple[list[ConsentEvent], int | None], random: object
) -> None:
    events, merge_seq = history
    shuffled = [as_batch_event(e) for e in events]
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    for purpose, marketing in PURPOSES.items():
        for channel in CHANNELS:
            for view in VIEWS:
                question = Question(purpose, channel, view, marketing, LegalBasis.CONSENT)
                verdict = policy.decide_person(events, merge_seq, question)
                assert policy.decide_person(shuffled, merge_seq, question) == verdict
                word, by = naive_person(events, merge_seq, purpose, channel, view)
                assert (WORDS[verdict.decision.value], verdict.deciding_event_id) == (word, by)
