"""Bad input is refused field by field, all at once, without echoing values."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument
from services.consent.domain import Channel, EventKind, How, LegalBasis, Scope
from services.consent.validation import (
    MAX_BATCH,
    BatchRequest,
    ChangeRequest,
    valid_batch,
    valid_change,
    valid_contact_id,
)

GOOD = ChangeRequest(
    contact_id="0b6c7f7e-5d1a-4f0e-9a53-2f6f3c1d8e42",
    channel=Channel.EMAIL,
    purpose="newsletter",
    scope=Scope.of("law"),
    legal_basis=None,
    source="web-form",
    text_shown="I agree to receive the newsletter.",
)
GOOD_BATCH = BatchRequest("law", Channel.EMAIL, "newsletter", ["c-1", "c-2"])


def fields_of(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


def refused(request: ChangeRequest, action: EventKind = EventKind.GRANTED) -> set[str]:
    with pytest.raises(InvalidArgument) as caught:
        valid_change(request, action)
    return fields_of(caught.value)


def test_a_good_grant_passes_and_defaults_to_consent() -> None:
    change = valid_change(GOOD, EventKind.GRANTED)
    assert change.legal_basis is LegalBasis.CONSENT
    assert change.scope == Scope.of("law")


def test_a_grant_keeps_legitimate_interest() -> None:
    request = replace(GOOD, legal_basis=LegalBasis.LEGITIMATE_INTEREST)
    assert valid_change(request, EventKind.GRANTED).legal_basis is LegalBasis.LEGITIMATE_INTEREST


def test_a_withdrawal_needs_no_text_and_carries_no_legal_basis() -> None:
    request = replace(GOOD, text_shown="", legal_basis=LegalBasis.LEGITIMATE_INTEREST)
    change = valid_change(request, EventKind.WITHDRAWN)
    assert change.legal_basis is None
    assert change.text_shown is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contact_id": ""}, "contact_id"),
        ({"contact_id": "   "}, "contact_id"),
        ({"contact_id": "x" * 65}, "contact_id"),
        ({"contact_id": "not-a-uuid"}, "contact_id"),
        ({"contact_id": "0B6C7F7E-5D1A-4F0E-9A53-2F6F3C1D8E42"}, "contact_id"),
        ({"contact_id": "0b6c7f7e5d1a4f0e9a532f6f3c1d8e42"}, "contact_id"),
        ({"contact_id": "{0b6c7f7e-5d1a-4f0e-9a53-2f6f3c1d8e42}"}, "contact_id"),
        ({"channel": None}, "channel"),
        ({"purpose": ""}, "purpose"),
        ({"purpose": "News"}, "purpose"),
        ({"purpose": "a" * 65}, "purpose"),
        ({"purpose": "news\n"}, "purpose"),
        ({"scope": None}, "scope"),
        ({"scope": Scope.of("")}, "scope.component_id"),
        ({"scope": Scope.of("c" * 65)}, "scope.component_id"),
        ({"source": ""}, "source"),
        ({"source": "s" * 101}, "source"),
        ({"text_shown": ""}, "notice_id"),
        ({"notice_id": "not-a-notice-id"}, "notice_id"),
        ({"ip": "192.0.2.1"}, "how"),
        ({"how": How.STAFF, "user_agent": "Mozilla"}, "how"),
        ({"pending": True}, set()),
        ({"text_shown": "t" * 5001}, "text_shown"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, object], field: str | set[str]) -> None:
    request = replace(GOOD, **change)  # type: ignore[arg-type]
    if field == set():
        valid_change(request, EventKind.GRANTED)
        return
    assert refused(request) == {field}


def test_withdrawal_text_is_optional_but_bounded() -> None:
    assert refused(replace(GOOD, text_shown="t" * 5001), EventKind.WITHDRAWN) == {"text_shown"}


def test_every_violation_is_reported_at_once() -> None:
    request = ChangeRequest("", None, "", None, None, "", "")
    assert refused(request) == {"contact_id", "channel", "purpose", "scope", "source", "notice_id"}


def test_the_persons_own_acts_keep_their_ip_address_and_user_agent() -> None:
    request = replace(GOOD, how=How.WEB_FORM, ip="192.0.2.1", user_agent="Mozilla")
    collection = valid_change(request, EventKind.GRANTED).collection
    assert (collection.how, collection.ip, collection.user_agent) == (
        How.WEB_FORM,
        "192.0.2.1",
        "Mozilla",
    )


def test_only_a_grant_may_be_pending() -> None:
    assert refused(replace(GOOD, pending=True), EventKind.DENIED) == {"pending"}


@given(st.text(min_size=65, max_size=200))
def test_errors_never_echo_the_value(value: str) -> None:
    request = replace(GOOD, contact_id=value, source=value, text_shown=value * 30)
    with pytest.raises(InvalidArgument) as caught:
        valid_change(request, EventKind.GRANTED)
    error = caught.value
    assert value not in error.detail
    assert all(value not in v.description for v in error.violations)


@given(st.from_regex(r"[a-z0-9_-]{1,64}", fullmatch=True))
def test_every_well_formed_purpose_passes(purpose: str) -> None:
    assert valid_change(replace(GOOD, purpose=purpose), EventKind.GRANTED).purpose == purpose


@given(
    st.text(max_size=80).filter(
        lambda s: not (0 < len(s) <= 64 and set(s) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-"))
    )
)
def test_every_malformed_purpose_is_refused(purpose: str) -> None:
    assert refused(replace(GOOD, purpose=purpose)) == {"purpose"}


def test_history_needs_a_contact_id() -> None:
    assert valid_contact_id("c-1") == "c-1"
    with pytest.raises(InvalidArgument) as caught:
        valid_contact_id("")
    assert fields_of(caught.value) == {"contact_id"}


def test_a_good_batch_passes() -> None:
    query = valid_batch(GOOD_BATCH)
    assert query.contact_ids == ["c-1", "c-2"] and query.component == "law"


def test_a_batch_of_exactly_the_limit_passes() -> None:
    ids = [f"c-{i}" for i in range(MAX_BATCH)]
    assert len(valid_batch(replace(GOOD_BATCH, contact_ids=ids)).contact_ids) == MAX_BATCH


def test_a_batch_over_the_limit_is_refused() -> None:
    ids = [f"c-{i}" for i in range(MAX_BATCH + 1)]
    with pytest.raises(InvalidArgument) as caught:
        valid_batch(replace(GOOD_BATCH, contact_ids=ids))
    assert fields_of(caught.value) == {"items"}


def test_batch_fields_are_named() -> None:
    request = BatchRequest("", None, "Bad Purpose", ["ok", "", "x" * 65])
    with pytest.raises(InvalidArgument) as caught:
        valid_batch(request)
    assert fields_of(caught.value) == {
        "component_id",
        "channel",
        "purpose",
        "items[1].contact_id",
        "items[2].contact_id",
    }
