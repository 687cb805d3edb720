"""The rules of the interaction history: who reads what, who records, and the page order."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument, PermissionDenied
from meshkit.identity import Principal
from services.campaigns.interactions_policy import (
    FUTURE_SKEW,
    MAX_PAGE,
    SOURCE_STAFF,
    Entry,
    EntryKind,
    NewInteraction,
    Reader,
    Recorder,
    before,
    decode_token,
    encode_token,
    may_read,
    newest_first,
    order_key,
    page_size,
    reader_of,
    recorder_of,
    validated_interaction,
    visible,
)
from services.campaigns.pressure_policy import CHANNELS

COMPONENTS = ["sciences", "lettres", "droit", ""]
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
SECRET = "MARKER-secret"
ROLES = ["viewer", "contact_editor", "campaign_manager", "dpo", "admin"]


def entry(kind: EntryKind, at: datetime, author: str, number: int = 1) -> Entry:
    entry_id = f"d:{number}" if kind is EntryKind.MAILING else f"i:{uuid.UUID(int=number)}"
    return Entry(
        kind=kind,
        id=entry_id,
        contact_id="c-1",
        at=at,
        component=author or "service:consent",
        channel="email" if kind is EntryKind.MAILING else "phone",
        purpose="alumni",
        campaign_name="Rentrée" if kind is EntryKind.MAILING else "",
        recorded_by=f"{SECRET}-recorder" if kind is EntryKind.INTERACTION else "",
        subject=f"{SECRET} subject",
        content=f"{SECRET} content",
        author=author,
    )


times = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2024, 1, 2), timezones=st.just(UTC)
)
entries = st.builds(
    entry,
    kind=st.sampled_from(EntryKind),
    at=times,
    author=st.sampled_from(COMPONENTS),
    number=st.integers(1, 10**6),
)
readers = st.builds(Reader, component=st.sampled_from([None, *COMPONENTS[:-1]]))


@given(item=entries, reader=readers)
def test_subject_content_and_recorder_reach_the_author_alone(item: Entry, reader: Reader) -> None:
    shown = visible(item, reader)
    allowed = reader.component is None or (item.author != "" and item.author == reader.component)
    assert (SECRET in repr(shown)) is allowed
    assert shown.content_hidden is not allowed
    # Everything else is every member's to see.
    same = ("kind", "id", "contact_id", "at", "component", "channel", "purpose", "campaign_name")
    assert all(getattr(shown, name) == getattr(item, name) for name in same)


@given(members=st.frozensets(st.sampled_from(COMPONENTS[:-1])), reader=readers)
def test_a_history_is_read_by_members_alone(members: frozenset[str], reader: Reader) -> None:
    assert may_read(reader, members) is (reader.component is None or reader.component in members)


@given(
    roles=st.frozensets(st.sampled_from(ROLES)),
    component=st.sampled_from([None, "sciences"]),
)
def test_who_reads_everything(roles: frozenset[str], component: str | None) -> None:
    principal = Principal("someone", component=component, roles=roles)
    everything = "admin" in roles or ("dpo" in roles and component is None)
    if not everything and component is None:
        with pytest.raises(PermissionDenied):
            reader_of(principal)
        return
    assert reader_of(principal) == Reader(None if everything else component)


def test_a_service_reads_everything() -> None:
    assert reader_of(Principal("service:gateway", roles=frozenset({"service"}))).sees_all


@given(roles=st.frozensets(st.sampled_from(ROLES)), asked=st.sampled_from(["", "sciences", "x"]))
def test_staff_record_for_their_own_component_with_contact_editor(
    roles: frozenset[str], asked: str
) -> None:
    principal = Principal("ana@sciences", component="sciences", roles=roles)
    if "contact_editor" not in roles or asked not in ("", "sciences"):
        with pytest.raises(PermissionDenied):
            recorder_of(principal, asked)
        return
    assert recorder_of(principal, asked) == Recorder("sciences", "ana@sciences", SOURCE_STAFF)


def test_a_service_records_for_the_component_it_names_and_is_its_own_source() -> None:
    service = Principal("service:events", roles=frozenset({"service"}))
    assert recorder_of(service, "lettres") == Recorder(
        "lettres", "service:events", "service:events"
    )
    with pytest.raises(InvalidArgument) as refused:
        validated_interaction(NewInteraction("c-1", "phone"), recorder_of(service, ""), NOW)
    assert [v.field for v in refused.value.violations] == ["component_id"]


STAFF = Recorder("sciences", "ana@sciences", SOURCE_STAFF)


@given(channel=st.text(max_size=10))
def test_only_the_known_channels(channel: str) -> None:
    new = NewInteraction("c-1", channel)
    if channel in CHANNELS:
        assert validated_interaction(new, STAFF, NOW).channel == channel
    else:
        with pytest.raises(InvalidArgument):
            validated_interaction(new, STAFF, NOW)


@given(
    subject=st.tuples(st.text(max_size=20), st.sampled_from("\r\n\x00"), st.text(max_size=20)).map(
        "".join
    ),
    seconds=st.integers(int(FUTURE_SKEW.total_seconds()) + 1, 10**8),
)
def test_bad_input_names_every_field_without_quoting_it(subject: str, seconds: int) -> None:
    new = NewInteraction(
        contact_id="",
        channel="fax",
        purpose="Not A Key",
        occurred_at=NOW + timedelta(seconds=seconds),
        subject=subject,
        content="x\x00",
        idempotency_key="has space",
    )
    with pytest.raises(InvalidArgument) as refused:
        validated_interaction(new, STAFF, NOW)
    fields = {v.field for v in refused.value.violations}
    expected = {"contact_id", "channel", "purpose", "occurred_at", "subject", "content"}
    assert fields == expected | {"idempotency_key"}
    assert "has space" not in refused.value.detail


def test_an_omitted_time_is_now_and_a_time_is_kept_in_utc() -> None:
    assert validated_interaction(NewInteraction("c-1", "phone"), STAFF, NOW).occurred_at == NOW
    paris = datetime(2025, 3, 1, 10, 0, tzinfo=UTC).astimezone()
    kept = validated_interaction(NewInteraction("c-1", "sms", occurred_at=paris), STAFF, NOW)
    assert kept.occurred_at == paris and kept.occurred_at.tzinfo == UTC  # type: ignore[union-attr]


# --- Pages ---------------------------------------------------------------------------------


def _sorted(items: list[Entry]) -> list[Entry]:

    return sorted(items, key=lambda e: order_key(e.at, e.id), reverse=True)


@given(
    items=st.lists(entries, max_size=40, unique_by=lambda e: e.id),
    size=st.integers(1, 7),
)
def test_pages_hold_every_entry_once_newest_first(items: list[Entry], size: int) -> None:
    # Few distinct instants, so that entries of both kinds share one.
    items = [replace(e, at=e.at.replace(minute=e.at.minute % 3, second=0)) for e in items]
    mailings = _sorted([e for e in items if e.kind is EntryKind.MAILING])
    interactions = _sorted([e for e in items if e.kind is EntryKind.INTERACTION])
    seen: list[Entry] = []
    position = None
    for _ in range(len(items) + 1):
        # What each SQL source answers after the position (the keyset condition).
        streams = [
            [e for e in s if before(e, position)][: size + 1] for s in (mailings, interactions)
        ]
        page, position = newest_first(streams, size)
        assert len(page) <= size
        seen += page
        if position is None:
            break
    assert seen == _sorted(items)


@given(at=times, number=st.integers(1, 10**6), contact=st.text(min_size=1, max_size=64))
def test_a_page_token_names_its_position_for_its_contact_only(
    at: datetime, number: int, contact: str
) -> None:
    item = entry(EntryKind.MAILING, at, "sciences", number)
    _, position = newest_first([[item, replace(item, id=f"d:{number - 1}")]], 1)
    assert position is not None
    token = encode_token(contact, position)
    assert decode_token(token, contact) == position
    with pytest.raises(InvalidArgument):
        decode_token(token, contact + "x")
    with pytest.raises(InvalidArgument):
        decode_token(token[:-4] + "AAAA", contact)


def test_page_size_defaults_and_caps() -> None:
    assert page_size(0) == 50 and page_size(7) == 7 and page_size(10**6) == MAX_PAGE
    with pytest.raises(InvalidArgument):
        page_size(-1)
