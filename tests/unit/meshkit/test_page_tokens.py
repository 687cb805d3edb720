"""The one page-token format: round trips, and every token a list did not issue is refused."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit import page_tokens
from meshkit.errors import InvalidArgument

ALPHABET = string.ascii_letters + string.digits + "-_"
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
keys = st.one_of(st.integers(min_value=0, max_value=2**63), st.text(max_size=40), times)
positions = st.lists(keys, min_size=1, max_size=3)
names = st.text(min_size=1, max_size=20)
bindings = st.lists(st.text(max_size=20), max_size=3)


def shape_of(position: list[object]) -> tuple[type, ...]:
    return tuple(datetime if isinstance(k, datetime) else type(k) for k in position)


def refused(token: str, listing: str, shape: tuple[type, ...], *binding: str) -> bool:
    with pytest.raises(InvalidArgument) as caught:
        page_tokens.decode(token, listing, shape, *binding)
    assert [v.field for v in caught.value.violations] == ["page_token"]
    return True


@given(names, positions, bindings)
def test_a_token_gives_back_its_position(listing, position, binding):
    token = page_tokens.encode(listing, position, *binding)
    assert page_tokens.decode(token, listing, shape_of(position), *binding) == tuple(position)
    assert set(token) <= set(ALPHABET + ".")  # fits a query string as it is


def test_no_token_is_the_first_page():
    assert page_tokens.decode("", "campaigns", (int,)) is None
    assert page_tokens.after_int("", "campaigns") is None


@given(names, names, positions, bindings, bindings)
def test_a_token_of_another_list_or_query_is_refused(listing, other, position, binding, theirs):
    if (listing, binding) == (other, theirs):
        return
    token = page_tokens.encode(other, position, *theirs)
    assert refused(token, listing, shape_of(position), *binding)


def test_bindings_do_not_run_into_each_other():
    token = page_tokens.encode("contacts", [1], "ab", "c")
    assert refused(token, "contacts", (int,), "a", "bc")
    assert refused(token, "contacts", (int,), "abc")


@given(positions, st.data())
def test_any_edit_of_a_token_is_refused(position, data):
    token = page_tokens.encode("consent.history", position, "law")
    at = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET + ".="))
    if replacement == token[at]:
        return
    forged = token[:at] + replacement + token[at + 1 :]
    assert refused(forged, "consent.history", shape_of(position), "law")


@given(st.text(max_size=200))
def test_garbage_is_refused_not_an_error(token):
    if token:
        assert refused(token, "campaigns", (datetime, str), "law")


def test_appended_or_oversized_tokens_are_refused():
    token = page_tokens.encode("campaigns", [5])
    assert refused(token + "A", "campaigns", (int,))
    assert refused(token + "=", "campaigns", (int,))
    assert refused("A" * 5000 + "." + "A", "campaigns", (int,))


def test_a_genuine_token_of_another_shape_is_refused():
    token = page_tokens.encode("deliveries", ["not a number"], "c-1")
    assert refused(token, "deliveries", (int,), "c-1")
    assert refused(page_tokens.encode("d", [True]), "d", (int,))  # a bool is not a position
    assert refused(page_tokens.encode("d", [1, 2]), "d", (int,))
    naive = page_tokens.encode("d", ["2025-01-01T00:00:00"])
    assert refused(naive, "d", (datetime,))


def test_times_keep_their_instant():
    at = datetime(2025, 3, 1, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    token = page_tokens.encode("campaigns", (at, "x"), "law")
    assert page_tokens.after_time_and_id(token, "campaigns", "law") == (at, "x")
    with pytest.raises(ValueError):
        page_tokens.encode("campaigns", (at.replace(tzinfo=None), "x"))


@given(st.integers(-(2**31), 2**31 - 1), st.integers(1, 1000), st.integers(1, 10_000))
def test_page_size_default_cap_and_refusal(asked, default, most):
    if asked < 0:
        with pytest.raises(InvalidArgument) as caught:
            page_tokens.page_size(asked, default, most)
        assert [v.field for v in caught.value.violations] == ["page_size"]
    else:
        size = page_tokens.page_size(asked, default, most)
        assert size == min(asked or default, most)
