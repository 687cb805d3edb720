"""Checks and normalisation of what callers send, before anything is written.

Plain Python. Every problem becomes a field violation that names the field,
never its value, and all problems of a request are reported at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from meshkit.addresses import is_valid_address
from meshkit.errors import Violations, invalid
from services.contacts.policy import DEFAULT_TIME_ZONE, Kind, Visibility

COMPONENT_ID = re.compile(r"[a-z0-9-]{2,40}")
ATTRIBUTE_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
PURPOSE = re.compile(r"[a-z0-9_-]{1,64}")
PHONE = re.compile(r"\+?[0-9 ().-]{3,32}")
# NUL and other control characters break storage and logs; values may still hold line breaks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MAX_NAME = 200
MAX_ATTRIBUTE_VALUE = 2000
MAX_ATTRIBUTES = 100
MAX_RECIPIENTS = 1000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class AttributeInput:
    """An attribute as a caller sent it; visibility None means a value this version ignores."""

    key: str
    value: str
    visibility: Visibility | None


@dataclass(frozen=True)
class ContactInput:
    """A new contact as a caller sent it; kind None means unspecified or unknown."""

    kind: Kind | None
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    organisation: str = ""
    phone: str = ""
    time_zone: str = ""
    attributes: tuple[AttributeInput, ...] = ()


@dataclass(frozen=True)
class ValidContact:
    """A new contact that passed every check, normalised and ready to store."""

    kind: Kind
    email: str | None
    email_normalised: str | None
    first_name: str | None
    last_name: str | None
    organisation: str | None
    phone: str | None
    time_zone: str
    attributes: tuple[AttributeInput, ...]


def normalise_email(raw: str) -> str:
    """The form under which two spellings of one address are the same contact."""
    return raw.strip().lower()


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """True for an IANA time zone name this machine knows."""
    return name in _time_zones()


def is_contact_id(value: str) -> bool:
    """True for the canonical form of the ids this service hands out (uuid4 strings)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def validate_contact(raw: ContactInput) -> ValidContact:
    """The normalised contact, or InvalidArgument listing every problem."""
    problems = Violations()
    email = raw.email.strip() or None
    email_normalised = normalise_email(raw.email) or None
    first_name = _text(problems, "first_name", raw.first_name)
    last_name = _text(problems, "last_name", raw.last_name)
    organisation = _text(problems, "organisation", raw.organisation)
    phone = raw.phone.strip() or None
    time_zone = raw.time_zone.strip() or DEFAULT_TIME_ZONE
    if raw.kind is None:
        problems.add("kind", "must be CONTACT_KIND_PERSON or CONTACT_KIND_COMPANY")
    if email is not None and not is_valid_address(email):
        problems.add("email", "must be a valid email address")
    if phone is not None and not (PHONE.fullmatch(phone) and sum(c.isdigit() for c in phone) >= 3):
        problems.add("phone", "must be a phone number: digits, spaces, + ( ) . - (3 to 32)")
    if raw.kind is Kind.PERSON and email is None and phone is None:
        problems.add("email", "a person needs an email or a phone")
    if raw.kind is Kind.COMPANY and organisation is None:
        problems.add("organisation", "a company needs an organisation name")
    if not is_time_zone(time_zone):
        problems.add("time_zone", "must be an IANA time zone name, e.g. Europe/Paris")
    if len(raw.attributes) > MAX_ATTRIBUTES:
        problems.add("attributes", f"at most {MAX_ATTRIBUTES} attributes")
    seen: set[str] = set()
    for index, attribute in enumerate(raw.attributes):
        _check_attribute(problems, f"attributes[{index}]", attribute)
        if attribute.key in seen:
            problems.add(f"attributes[{index}].key", "appears twice in this request")
        seen.add(attribute.key)
    problems.raise_if_any()
    assert raw.kind is not None  # reported above otherwise
    return ValidContact(
        raw.kind,
        email,
        email_normalised,
        first_name,
        last_name,
        organisation,
        phone,
        time_zone,
        raw.attributes,
    )


def validate_attribute(field: str, attribute: AttributeInput | None) -> AttributeInput:
    """The attribute, or InvalidArgument naming each bad part of it."""
    if attribute is None:
        raise invalid(field, "is required")
    problems = Violations()
    _check_attribute(problems, field, attribute)
    problems.raise_if_any()
    return attribute


def validate_component(component_id: str, name: str) -> tuple[str, str]:
    """A component's id and trimmed name, or InvalidArgument."""
    problems = Violations()
    if not COMPONENT_ID.fullmatch(component_id):
        problems.add("id", "must be 2 to 40 characters among a-z, 0-9 and -")
    clean_name = _text(problems, "name", name)
    if clean_name is None:
        problems.add("name", "is required")
    problems.raise_if_any()
    return component_id, clean_name or ""


def require_component_id(field: str, value: str) -> str:
    """`value` when it is a well-formed component id, else InvalidArgument on `field`."""
    if not COMPONENT_ID.fullmatch(value):
        raise invalid(field, "must be a component id: 2 to 40 characters among a-z, 0-9 and -")
    return value


def validate_recipients_request(
    component_id: str, purpose: str, contact_ids: Sequence[str]
) -> None:
    """Raises InvalidArgument unless a recipients batch is well formed."""
    problems = Violations()
    if not COMPONENT_ID.fullmatch(component_id):
        problems.add("component_id", "must be a component id: 2 to 40 characters among a-z, 0-9, -")
    if not PURPOSE.fullmatch(purpose):
        problems.add("purpose", "must be 1 to 64 characters among a-z, 0-9, _ and -")
    if len(contact_ids) > MAX_RECIPIENTS:
        problems.add("contact_ids", f"at most {MAX_RECIPIENTS} ids per call")
    problems.raise_if_any()


def page_size(requested: int) -> int:
    """The page size to serve: 100 when unset, at most 1000; negative is an error."""
    if requested < 0:
        raise invalid("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _check_attribute(problems: Violations, field: str, attribute: AttributeInput) -> None:
    if not ATTRIBUTE_KEY.fullmatch(attribute.key):
        problems.add(f"{field}.key", "must match [a-z][a-z0-9_]{0,63}")
    if len(attribute.value) > MAX_ATTRIBUTE_VALUE:
        problems.add(f"{field}.value", f"at most {MAX_ATTRIBUTE_VALUE} characters")
    elif _CONTROL_BUT_LINES.search(attribute.value):
        problems.add(f"{field}.value", "must not contain control characters")
    if attribute.visibility is None:
        problems.add(f"{field}.visibility", "must be one of the Visibility values")


def _text(problems: Violations, field: str, value: str) -> str | None:
    """A trimmed short text (None when empty), with a violation when too long or unprintable."""
    clean = value.strip()
    if len(clean) > MAX_NAME:
        problems.add(field, f"at most {MAX_NAME} characters")
    elif _CONTROL.search(clean):
        problems.add(field, "must not contain control characters")
    return clean or None
