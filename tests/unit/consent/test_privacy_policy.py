"""The privacy-request rules: one lifecycle, the one-month deadline, the backoff, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.identity import Principal
from services.consent.privacy_policy import (
    STEPS,
    TRANSITIONS,
    UNFINISHED,
    Backoff,
    IllegalTransition,
    Kind,
    Outcome,
    Part,
    Status,
    StepStatus,
    after_attempt,
    contact_digest,
    deadline,
    is_grouping_dpo,
    moved,
    next_step,
    outcome_of,
)

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
kinds = st.sampled_from(Kind)


def test_the_lifecycle_is_open_in_progress_then_done_or_failed() -> None:
    assert TRANSITIONS == {
        Status.OPEN: {Status.IN_PROGRESS, Status.FAILED},
        Status.IN_PROGRESS: {Status.DONE, Status.FAILED},
        Status.DONE: set(),
        Status.FAILED: set(),
    }
    assert UNFINISHED == {Status.OPEN, Status.IN_PROGRESS}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_a_move_the_lifecycle_does_not_name_is_refused(current: Status, target: Status) -> None:
    if target in TRANSITIONS[current]:
        assert moved(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            moved(current, target)


@given(kinds, st.data())
def test_after_an_attempt_the_request_stands_where_its_steps_say(
    kind: Kind, data: st.DataObject
) -> None:
    steps = {p: data.draw(st.sampled_from(StepStatus)) for p in STEPS[kind]}
    current = data.draw(st.sampled_from([Status.OPEN, Status.IN_PROGRESS]))
    status = after_attempt(current, steps)
    if StepStatus.FAILED in steps.values():
        assert status is Status.FAILED
    elif set(steps.values()) == {StepStatus.DONE}:
        assert status is Status.DONE
    else:
        assert status is Status.IN_PROGRESS


@pytest.mark.parametrize("finished", [Status.DONE, Status.FAILED])
def test_a_finished_request_is_never_attempted_again(finished: Status) -> None:
    with pytest.raises(IllegalTransition):
        after_attempt(finished, {Part.CONTACTS: StepStatus.DONE})


def test_erasure_suppresses_first_and_erases_contacts_last() -> None:
    steps = STEPS[Kind.ERASURE]
    assert steps[0] is Part.SUPPRESSION and steps[-1] is Part.CONTACTS
    assert set(steps) == set(Part)
    assert set(STEPS[Kind.ACCESS]) == {Part.CONTACTS, Part.CONSENT, Part.CAMPAIGNS}
    assert STEPS[Kind.RECTIFICATION] == (Part.CONTACTS,)


@given(kinds, st.data())
def test_steps_run_in_order(kind: Kind, data: st.DataObject) -> None:
    done = data.draw(st.integers(0, len(STEPS[kind])))
    steps = {
        p: StepStatus.DONE if i < done else StepStatus.PENDING for i, p in enumerate(STEPS[kind])
    }
    expected = STEPS[kind][done] if done < len(STEPS[kind]) else None
    assert next_step(kind, steps) is expected


@given(moments)
def test_the_deadline_is_one_calendar_month_later(opened_at: datetime) -> None:
    due = deadline(opened_at)
    assert (due.year * 12 + due.month) - (opened_at.year * 12 + opened_at.month) == 1
    assert due.day <= opened_at.day
    assert due.time() == opened_at.time() and due.tzinfo == opened_at.tzinfo
    assert timedelta(days=28) <= due - opened_at <= timedelta(days=31)


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        (datetime(2025, 1, 31, 9, tzinfo=UTC), datetime(2025, 2, 28, 9, tzinfo=UTC)),
        (datetime(2024, 1, 31, 9, tzinfo=UTC), datetime(2024, 2, 29, 9, tzinfo=UTC)),
        (datetime(2025, 12, 15, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC)),
        (datetime(2025, 3, 31, tzinfo=UTC), datetime(2025, 4, 30, tzinfo=UTC)),
    ],
)
def test_deadline_examples(opened: datetime, due: datetime) -> None:
    assert deadline(opened) == due


@given(st.integers(1, 10_000))
def test_the_backoff_grows_and_never_passes_its_ceiling(attempts: int) -> None:
    backoff = Backoff(timedelta(seconds=30), timedelta(hours=1))
    assert timedelta(seconds=30) <= backoff.delay(attempts) <= timedelta(hours=1)
    assert backoff.delay(attempts) <= backoff.delay(attempts + 1)


def test_the_backoff_doubles() -> None:
    backoff = Backoff(timedelta(seconds=30), timedelta(hours=1))
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff.delay(100) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("kind", "code", "outcome"),
    [
        (Kind.ACCESS, "UNAVAILABLE", Outcome.RETRY),
        (Kind.ACCESS, "PERMISSION_DENIED", Outcome.RETRY),  # our misconfiguration: retried
        (Kind.ACCESS, "INTERNAL", Outcome.RETRY),
        (Kind.ACCESS, "NOT_FOUND", Outcome.REFUSED),
        (Kind.RECTIFICATION, "INVALID_ARGUMENT", Outcome.REFUSED),
        (Kind.RECTIFICATION, "FAILED_PRECONDITION", Outcome.REFUSED),
        (Kind.ERASURE, "NOT_FOUND", Outcome.DONE),  # nothing left to erase
        (Kind.ERASURE, "UNAVAILABLE", Outcome.RETRY),
    ],
)
def test_what_an_answer_means(kind: Kind, code: str, outcome: Outcome) -> None:
    assert outcome_of(kind, code) is outcome


def test_only_the_grouping_dpo_handles_privacy_requests() -> None:
    assert is_grouping_dpo(Principal("dpo@grouping", roles=frozenset({"dpo"})))
    assert not is_grouping_dpo(Principal("dpo@law", component="law", roles=frozenset({"dpo"})))
    assert not is_grouping_dpo(Principal("admin", roles=frozenset({"admin"})))
    assert not is_grouping_dpo(Principal("service:x", roles=frozenset({"service"})))


def test_the_digest_does_not_show_the_contact_id() -> None:
    contact_id = "8f0c2a52-5b8a-4f0e-9a55-2d8e4c1b7a10"
    digest = contact_digest(contact_id)
    assert contact_id not in digest and len(digest) == 64
    assert digest == contact_digest(contact_id)
