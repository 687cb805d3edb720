"""Address syntax: contacts stores, and campaigns mails, only a plain ASCII addr-spec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.addresses import is_valid_address


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.org",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.fr",
        "x@a-b.io",
        "Marie.Dupont@Univ-Lyon.FR",
        "x_y-z@univ-lyon.fr",
    ],
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
        "marie@example",
        "marie@example.123",
        "marie@example.fr\x00",
        "\u212ate@example.fr",
        "marie@\u00e9cole.fr",
    ],
)
def test_invalid_addresses(address: str) -> None:
    assert not is_valid_address(address)


@given(st.text(max_size=80))
def test_a_valid_address_never_holds_a_line_break_space_or_comma(text: str) -> None:
    if is_valid_address(text):
        assert not any(c in text for c in "\r\n \t,<>;")
        assert text.count("@") == 1
