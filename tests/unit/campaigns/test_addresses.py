"""Address syntax: only a plain addr-spec becomes a To header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.policy import is_valid_address


@pytest.mark.parametrize(
    "address",
    ["ada@example.org", "first.last+tag@sub.example.co.uk", "o'brien@example.fr", "x@a-b.io"],
)
def test_valid_addresses(address: str) -> None:
    assert is_valid_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "@example.org",
        "ada@",
        "ada@localhost",
        "ada@@example.org",
        "a..b@example.org",
        ".a@example.org",
        "ada@-example.org",
        "ada @example.org",
        "ada@example.org\r\nBcc: x@example.org",
        "Ada <ada@example.org>",
        "ada,bob@example.org",
        "a" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
    ],
)
def test_invalid_addresses(address: str) -> None:
    assert not is_valid_address(address)


@given(st.text(max_size=80))
def test_a_valid_address_never_holds_a_line_break_space_or_comma(text: str) -> None:
    if is_valid_address(text):
        assert not any(c in text for c in "\r\n \t,<>;")
        assert text.count("@") == 1
