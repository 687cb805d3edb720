"""The outbox's rules: when an entry is due, how long a failed one waits, what enqueues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.consent.domain import Channel, ConsentEvent, EventKind, How, LegalBasis, Scope
from services.consent.outbox import (
    Backoff,
    OutboxKind,
    confirmation,
    is_due,
    lifts_objection,
    mail_component,
    next_attempt,
    revalidation,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
seconds = st.integers(min_value=1, max_value=3600)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@given(first=seconds, longest=seconds, attempts=st.integers(min_value=1, max_value=200))
def test_backoff_doubles_from_the_first_wait_and_never_passes_the_longest(
    first: int, longest: int, attempts: int
) -> None:
    backoff = Backoff(timedelta(seconds=first), timedelta(seconds=max(first, longest)))
    wait = backoff.wait(attempts)
    assert timedelta(seconds=first) <= wait <= backoff.longest
    assert backoff.wait(attempts + 1) >= wait  # never shorter after another failure
    if attempts == 1:
        assert wait == timedelta(seconds=first)
    assert next_attempt(backoff, attempts, NOW) == NOW + wait


@given(sent=st.none() | moments, next_at=moments, now=moments)
def test_an_entry_is_due_once_its_time_has_come_and_until_it_is_done(
    sent: datetime | None, next_at: datetime, now: datetime
) -> None:
    assert is_due(sent, next_at, now) == (sent is None and next_at <= now)


def _event(
    kind: EventKind, how: How, channel: Channel | None = Channel.EMAIL, **kw: object
) -> ConsentEvent:
    return ConsentEvent(
        seq=int(kw.pop("seq", 1)),  # type: ignore[call-overload]
        id=str(kw.pop("id", "e1")),
        contact_id="c1",
        kind=kind,
        channel=channel,
        purpose=None if kind is EventKind.OBJECTED else "newsletter",
        scope=Scope.grouping(),
        legal_basis=LegalBasis.CONSENT if kind is EventKind.GRANTED else None,
        actor_subject="x",
        actor_component=None,
        source="test",
        text_shown=None,
        recorded_at=NOW,
        how=how,
        pending=bool(kw.pop("pending", False)),
    )


OBJECTION = _event(EventKind.OBJECTED, How.PREFERENCE_PAGE, None, id="o1")


@given(
    kind=st.sampled_from(EventKind),
    how=st.sampled_from(How),
    channel=st.sampled_from(Channel),
    pending=st.booleans(),
    objected_on=st.none() | st.sampled_from(Channel),
)
def test_only_the_persons_own_yes_on_email_after_an_objection_lifts_it(
    kind: EventKind, how: How, channel: Channel, pending: bool, objected_on: Channel | None
) -> None:
    pending = pending and kind is EventKind.GRANTED
    event = _event(kind, how, channel, id="g1", seq=2, pending=pending)
    objection = _event(EventKind.OBJECTED, How.STAFF, objected_on, id="o1")
    expected = (
        kind in (EventKind.GRANTED, EventKind.CONFIRMED, EventKind.REVALIDATED)
        and not pending
        and channel is Channel.EMAIL
        and how in (How.WEB_FORM, How.ONE_CLICK, How.PREFERENCE_PAGE, How.INBOUND_MAIL)
        and objected_on in (None, Channel.EMAIL)
    )
    assert lifts_objection(event, [objection]) == expected
    assert not lifts_objection(event, [])  # nothing to lift without an objection


def test_keys_name_the_event_or_the_run_never_the_person() -> None:
    grant = _event(EventKind.GRANTED, How.WEB_FORM, id="g1", pending=True)
    entry = confirmation(grant, "sciences")
    assert entry.idempotency_key == "consent-confirmation:g1"
    assert (entry.kind, entry.link_ref, entry.component_id) == (
        OutboxKind.CONFIRMATION,
        "g1",
        "sciences",
    )
    again = revalidation("c1", "revalidate:g1", "g1", "")
    assert again.idempotency_key == "consent-revalidation:revalidate:g1"
    assert "c1" not in entry.idempotency_key + again.idempotency_key


def test_a_grouping_consent_mails_through_a_member_component() -> None:
    assert mail_component("law", ["sciences"]) == "law"
    assert mail_component(None, ["sciences", "law"]) == "law"
    assert mail_component(None, []) == ""
