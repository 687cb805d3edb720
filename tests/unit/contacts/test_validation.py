"""Email normalisation, input validation by the field catalogue, page sizes and page tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument
from meshkit.fields import FieldType
from services.contacts.policy import Kind
from services.contacts.validation import (
    AttributeSpec,
    Catalogue,
    clean_value,
    normalise_email,
    page_size,
    validate_attribute_definition,
    validate_component,
    validate_new_contact,
    validate_recipients_request,
    validate_update,
)

SECRET = "\u2603secret"  # a marker no error text contains
CATALOGUE = Catalogue(
    {
        spec.field: spec
        for spec in (
            AttributeSpec("sciences", "taxe", FieldType.NUMBER),
            AttributeSpec("sciences", "promo", FieldType.ENUM, ("2012", "2013")),
            AttributeSpec("sciences", "since", FieldType.DATE),
            AttributeSpec("sciences", "vip", FieldType.BOOLEAN),
            AttributeSpec("sciences", "notes", FieldType.TEXT),
        )
    }
)


def violations(error: InvalidArgument) -> dict[str, str]:
    return {v.field: v.description for v in error.violations}


def person(**fields: str) -> dict[str, str]:
    return {"email": "marie@example.fr", **fields}


def new(kind: Kind | None, fields: dict[str, str]):
    return validate_new_contact(CATALOGUE, kind, fields)


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
        new(Kind.PERSON, person(email="\u212ate@example.fr"))
    assert "fields.email" in violations(caught.value)


def test_a_valid_person_is_normalised():
    valid = new(Kind.PERSON, person(email="  Marie@Example.FR ", first_name=" Marie "))
    assert valid.values["email"].value == "Marie@Example.FR"
    assert valid.addresses() == ["marie@example.fr"]
    assert valid.values["first_name"].value == "Marie"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (("phone", "06 12 34 56 78"), "+33612345678"),
        (("phone", "+1 (514) 555-0199"), "+15145550199"),
        (("sciences.taxe", "12000,50"), "12000.5"),
        (("sciences.taxe", " 1e3 "), "1000"),
        (("sciences.since", "2024-09-01"), "2024-09-01"),
        (("sciences.vip", "Oui"), "true"),
        (("language", "FR"), "fr"),
        (("time_zone", "Pacific/Noumea"), "Pacific/Noumea"),
    ],
)
def test_values_are_stored_in_their_normal_form(raw, expected):
    name, value = raw
    result = clean_value(CATALOGUE, name, value)
    assert not isinstance(result, str), result
    assert result.value == expected


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        (None, person(), "kind"),
        (Kind.PERSON, person(email="not-an-email"), "fields.email"),
        (Kind.PERSON, {"first_name": "Marie"}, "fields"),
        (Kind.PERSON, person(phone="call me"), "fields.phone"),
        (Kind.PERSON, person(phone="+33 1"), "fields.phone"),
        (Kind.COMPANY, {"email": "contact@airbus.fr"}, "fields.organisation"),
        (Kind.PERSON, person(time_zone="Mars/Olympus"), "fields.time_zone"),
        (Kind.PERSON, person(time_zone="../../etc/passwd"), "fields.time_zone"),
        (Kind.PERSON, person(first_name="x" * 201), "fields.first_name"),
        (Kind.PERSON, person(last_name="a\x00b"), "fields.last_name"),
        (Kind.PERSON, person(**{"sciences.taxe": "beaucoup"}), "fields.sciences.taxe"),
        (Kind.PERSON, person(**{"sciences.promo": "1999"}), "fields.sciences.promo"),
        (Kind.PERSON, person(**{"sciences.since": "2024-13-01"}), "fields.sciences.since"),
        (Kind.PERSON, person(**{"sciences.vip": "peut-être"}), "fields.sciences.vip"),
        (Kind.PERSON, person(**{"sciences.notes": "v" * 2001}), "fields.sciences.notes"),
        (Kind.PERSON, person(**{"lettres.undeclared": "x"}), "fields.lettres.undeclared"),
        (Kind.PERSON, person(nickname="x"), "fields.nickname"),
        (Kind.PERSON, person(display_name="x"), "fields.display_name"),
    ],
)
def test_each_problem_names_its_field(kind, fields, field):
    with pytest.raises(InvalidArgument) as caught:
        new(kind, fields)
    assert field in violations(caught.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidArgument) as caught:
        new(None, {"email": "nope", "time_zone": "Nowhere", "first_name": "x" * 300})
    assert {"kind", "fields.email", "fields.time_zone", "fields.first_name"} <= set(
        violations(caught.value)
    )


@given(
    st.text(max_size=30),
    st.sampled_from(["email", "phone", "time_zone", "first_name", "sciences.taxe"]),
)
def test_errors_never_repeat_the_value(junk, name):
    value = SECRET + junk + ("x" * 300 if name == "first_name" else "")
    with pytest.raises(InvalidArgument) as caught:
        new(Kind.PERSON, person(**{name: value}))
    error = caught.value
    assert SECRET not in error.detail
    assert all(SECRET not in v.description and SECRET not in v.field for v in error.violations)


def test_an_update_needs_an_etag_and_something_to_change():
    with pytest.raises(InvalidArgument) as caught:
        validate_update(CATALOGUE, "", {}, [])
    assert {"etag", "set"} <= set(violations(caught.value))
    with pytest.raises(InvalidArgument) as caught:
        validate_update(CATALOGUE, "e", {"phone": "0612345678"}, ["phone", "nope"])
    assert {"clear[0]", "clear[1]"} == set(violations(caught.value))


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (AttributeSpec("Sciences", "taxe", FieldType.NUMBER), "attribute.component_id"),
        (AttributeSpec("sciences", "Bad-Key", FieldType.NUMBER), "attribute.key"),
        (AttributeSpec("sciences", "k", FieldType.EMAIL), "attribute.type"),
        (AttributeSpec("sciences", "k", FieldType.ENUM), "attribute.choices"),
        (AttributeSpec("sciences", "k", FieldType.TEXT, ("a",)), "attribute.choices"),
        (AttributeSpec("sciences", "k", FieldType.ENUM, ("a", "a")), "attribute.choices"),
    ],
)
def test_attribute_declarations_are_checked(spec, field):
    with pytest.raises(InvalidArgument) as caught:
        validate_attribute_definition(spec)
    assert field in violations(caught.value)


@pytest.mark.parametrize("component_id", ["a", "Sciences", "sci ences", "x" * 41, ""])
def test_component_ids_are_slugs(component_id):
    with pytest.raises(InvalidArgument) as caught:
        validate_component(component_id, "Sciences")
    assert "id" in violations(caught.value)


def test_recipient_batches_are_bounded_and_purposes_checked():
    validate_recipients_request("sciences", "newsletter", ["x"] * 1000, ["first_name"])
    with pytest.raises(InvalidArgument) as caught:
        validate_recipients_request("sciences", "", ["x"] * 1001, ["f"] * 101)
    assert {"purpose", "contact_ids", "fields"} == set(violations(caught.value))
    with pytest.raises(InvalidArgument):
        validate_recipients_request("sciences", "News Letter", [], [])


@given(st.integers(min_value=0, max_value=10**6))
def test_page_size_is_defaulted_and_capped(requested):
    size = page_size(requested)
    assert 1 <= size <= 1000
    assert size == (100 if requested == 0 else min(requested, 1000))


def test_a_negative_page_size_is_invalid():
    with pytest.raises(InvalidArgument):
        page_size(-1)
