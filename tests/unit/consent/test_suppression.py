"""The suppression list's normal form and keyed hash, for all inputs (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.consent.suppression import NotAnAddress, address_hash, normalise

SECRET = b"test-suppression-secret"
ATOM = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
    min_size=1,
    max_size=20,
)
LABEL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=15,
)
ASCII_ADDRESS = st.builds(
    lambda local, labels, top: f"{local}@{'.'.join([*labels, top])}",
    ATOM,
    st.lists(LABEL, min_size=1, max_size=3),
    st.sampled_from(["fr", "org", "COM", "Eu"]),
)
UNICODE_LOCAL = st.text(
    alphabet=st.characters(categories=["Ll", "Lu", "Lt", "Nd"]), min_size=1, max_size=12
)
UNICODE_LABEL = st.text(
    alphabet=st.characters(categories=["Ll", "Lu", "Nd"], max_codepoint=0x2FF),
    min_size=1,
    max_size=12,
)
PADDING = st.text(alphabet=" \t\r\n", max_size=3)


def _valid(address: str) -> str | None:
    try:
        return normalise(address)
    except NotAnAddress:
        return None


@given(ASCII_ADDRESS)
def test_normalising_twice_changes_nothing(address: str) -> None:
    once = normalise(address)
    assert normalise(once) == once


@given(UNICODE_LOCAL, UNICODE_LABEL)
def test_normalising_an_international_address_twice_changes_nothing(local: str, label: str) -> None:
    once = _valid(f"{local}@{label}.fr")
    if once is not None:
        assert normalise(once) == once
        assert once.partition("@")[2].isascii()  # the domain is stored in IDNA form


@given(ASCII_ADDRESS, PADDING, PADDING)
def test_case_and_surrounding_space_make_no_difference(
    address: str, before: str, after: str
) -> None:
    expected = normalise(address)
    assert normalise(before + address.upper() + after) == expected
    assert normalise(address.lower()) == expected
    assert normalise(address.swapcase()) == expected


@given(ASCII_ADDRESS, ASCII_ADDRESS)
def test_two_addresses_share_a_hash_exactly_when_they_share_a_normal_form(
    first: str, second: str
) -> None:
    same = normalise(first) == normalise(second)
    assert (address_hash(SECRET, first) == address_hash(SECRET, second)) is same


@given(ASCII_ADDRESS)
def test_the_hash_is_hex_sha256_and_depends_on_the_secret(address: str) -> None:
    digest = address_hash(SECRET, address)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != address_hash(b"another secret", address)


def test_an_internationalised_domain_is_the_same_entry_as_its_ascii_form() -> None:
    assert normalise("Élodie@Université.FR") == normalise("élodie@xn--universit-j4a.fr")
    assert normalise("élodie@xn--universit-j4a.fr") == "élodie@xn--universit-j4a.fr"


def test_provider_specific_spellings_stay_distinct() -> None:
    assert normalise("marie.dupont+news@gmail.com") != normalise("mariedupont@gmail.com")


@pytest.mark.parametrize(
    "text", ["", "   ", "no-at-sign", "@example.org", "marie@", "ma rie@example.org", "a@b..c"]
)
def test_text_that_is_no_address_is_refused(text: str) -> None:
    with pytest.raises(NotAnAddress):
        normalise(text)
