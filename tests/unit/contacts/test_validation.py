"""Email normalisation, input validation, page sizes and page tokens."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument
from services.contacts import page_tokens
from services.contacts.policy import Kind, Visibility
from services.contacts.validation import (
    AttributeInput,
    ContactInput,
    normalise_email,
    page_size,
    validate_attribute,
    validate_component,
    validate_contact,
    validate_recipients_request,
)

SECRET = "\u2603secret"  # a marker no error text contains


def violations(error: InvalidArgument) -> dict[str, str]:
    return {v.field: v.description for v in error.violations}


def attrs(*items: tuple[str, str, Visibility | None]) -> tuple[AttributeInput, ...]:
    return tuple(AttributeInput(*item) for item in items)


def person(**changes: object) -> ContactInput:
    values: dict[str, object] = {"kind": Kind.PERSON, "email": "marie@example.fr"}
    values.update(changes)
    return ContactInput(**values)  # type: ignore[arg-type]


@given(st.text())
def test_normalisation_is_idempotent(raw):
    assert normalise_email(normalise_email(raw)) == normalise_email(raw)


@given(st.sampled_from(["marie.dupont@example.fr", "a+b@sub.univ-x.fr"]), st.data())
def test_spellings_of_one_address_normalise_alike(address, data):
    upper = "".join(c.upper() if data.draw(st.booleans()) else c for c in address)
    padding = data.draw(st.sampled_from(["", " ", "\t", "\n "]))
    assert normalise_email(f"{padding}{upper}{padding}") == address


def test_an_address_that_only_lower_cases_to_ascii_is_refused():
    # KELVIN SIGN lower-cases to "k": the address must be checked as it will be mailed.
    with pytest.raises(InvalidArgument) as caught:
        validate_contact(person(email="\u212ate@example.fr"))
    assert "email" in violations(caught.value)


def test_a_valid_person_is_normalised():
    valid = validate_contact(person(email="  Marie@Example.FR ", first_name=" Marie "))
    assert valid.email == "Marie@Example.FR"
    assert valid.email_normalised == "marie@example.fr"
    assert valid.first_name == "Marie"
    assert valid.time_zone == "Europe/Paris"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (person(kind=None), "kind"),
        (person(email="not-an-email"), "email"),
        (person(email="", phone=""), "email"),
        (person(phone="call me"), "phone"),
        (ContactInput(Kind.COMPANY, email="contact@airbus.fr"), "organisation"),
        (person(time_zone="Mars/Olympus"), "time_zone"),
        (person(time_zone="../../etc/passwd"), "time_zone"),
        (person(first_name="x" * 201), "first_name"),
        (person(last_name="a\x00b"), "last_name"),
        (
            person(attributes=attrs(("Bad-Key", "v", Visibility.OWNER))),
            "attributes[0].key",
        ),
        (
            person(attributes=attrs(("k", "v" * 2001, Visibility.OWNER))),
            "attributes[0].value",
        ),
        (person(attributes=(AttributeInput("k", "v", None),)), "attributes[0].visibility"),
        (
            person(attributes=(AttributeInput("k", "1", None), AttributeInput("k", "2", None))),
            "attributes[1].key",
        ),
    ],
)
def test_each_problem_names_its_field(raw, field):
    with pytest.raises(InvalidArgument) as caught:
        validate_contact(raw)
    assert field in violations(caught.value)


def test_every_problem_is_reported_at_once():
    raw = ContactInput(None, email="nope", time_zone="Nowhere", first_name="x" * 300)
    with pytest.raises(InvalidArgument) as caught:
        validate_contact(raw)
    assert {"kind", "email", "time_zone", "first_name"} <= set(violations(caught.value))


@given(st.text(max_size=30), st.sampled_from(["email", "phone", "time_zone", "first_name"]))
def test_errors_never_repeat_the_value(junk, field):
    value = SECRET + junk + ("x" * 300 if field == "first_name" else "")
    raw = person(**{field: value})
    with pytest.raises(InvalidArgument) as caught:
        validate_contact(raw)
    error = caught.value
    assert SECRET not in error.detail
    assert all(SECRET not in v.description for v in error.violations)


@given(st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True), st.text(max_size=2000))
def test_well_formed_attributes_pass(key, value):
    assume(not any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value))
    attribute = AttributeInput(key, value, Visibility.MEMBERS)
    assert validate_attribute("attribute", attribute) == attribute


def test_a_missing_attribute_is_invalid():
    with pytest.raises(InvalidArgument) as caught:
        validate_attribute("attribute", None)
    assert "attribute" in violations(caught.value)


@pytest.mark.parametrize("component_id", ["a", "Sciences", "sci ences", "x" * 41, ""])
def test_component_ids_are_slugs(component_id):
    with pytest.raises(InvalidArgument) as caught:
        validate_component(component_id, "Sciences")
    assert "id" in violations(caught.value)


def test_recipient_batches_are_bounded_and_purposes_checked():
    validate_recipients_request("sciences", "newsletter", ["x"] * 1000)
    with pytest.raises(InvalidArgument) as caught:
        validate_recipients_request("sciences", "", ["x"] * 1001)
    assert {"purpose", "contact_ids"} == set(violations(caught.value))
    with pytest.raises(InvalidArgument):
        validate_recipients_request("sciences", "News Letter", [])


@given(st.integers(min_value=0, max_value=10**6))
def test_page_size_is_defaulted_and_capped(requested):
    size = page_size(requested)
    assert 1 <= size <= 1000
    assert size == (100 if requested == 0 else min(requested, 1000))


def test_a_negative_page_size_is_invalid():
    with pytest.raises(InvalidArgument):
        page_size(-1)


@given(st.uuids().map(str))
def test_page_tokens_round_trip(last_id):
    assert page_tokens.decode(page_tokens.encode("sciences", last_id), "sciences") == last_id


@given(st.text(min_size=1))
def test_garbage_page_tokens_are_invalid(token):
    with pytest.raises(InvalidArgument) as caught:
        page_tokens.decode(token, "sciences")
    assert "page_token" in violations(caught.value)


def test_a_page_token_only_resumes_its_own_listing():
    token = page_tokens.encode("droit", "6f6e6863-5644-4f1d-9bf9-aad309b8f9e2")
    with pytest.raises(InvalidArgument):
        page_tokens.decode(token, "sciences")
