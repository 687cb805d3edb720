"""Checks and normalisation of what callers send, before anything is written.

Plain Python. Every problem becomes a field violation that names the field,
never its value, and all problems of a request are reported at once. Values
are checked by the type the field catalogue gives them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import available_timezones

import phonenumbers

from meshkit import page_tokens
from meshkit.addresses import is_valid_address
from meshkit.errors import Violations, invalid
from meshkit.fields import (
    ATTRIBUTE_KEY,
    ATTRIBUTE_TYPES,
    COMPONENT_ID,
    CORE,
    DISPLAY_NAME,
    FieldType,
    split_attribute,
)
from meshkit.purposes import PURPOSE_KEY_RULE, is_purpose_key
from services.contacts.policy import Kind
from services.contacts.search import RANGED, Condition, Query

__all__ = ["ATTRIBUTE_KEY", "COMPONENT_ID"]

LANGUAGE = re.compile(r"[a-z]{2}")
# NUL and other control characters break storage and logs; long texts may still hold line breaks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MAX_NAME = 200
MAX_TEXT = 2000
MAX_FIELDS = 100
MAX_CHOICES = 100
MAX_RECIPIENTS = 1000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
DEFAULT_REGION = "FR"  # phone numbers written without a country code are French
LONG_TEXT_FIELDS = frozenset({"postal_address"})


@dataclass(frozen=True)
class AttributeSpec:
    """A declared attribute of a component: its type and, for an enum, its choices."""

    component_id: str
    key: str
    type: FieldType
    choices: tuple[str, ...] = ()
    label_fr: str = ""
    label_en: str = ""

    @property
    def field(self) -> str:
        return f"{self.component_id}.{self.key}"


@dataclass(frozen=True)
class Catalogue:
    """The core fields and every declared attribute, by field id."""

    attributes: Mapping[str, AttributeSpec] = field(default_factory=dict)

    def type_of(self, name: str) -> FieldType | None:
        """The type of a writable field; None for a field nobody declared."""
        if name in CORE:
            return CORE[name].type
        spec = self.attributes.get(name)
        return spec.type if spec else None

    def knows(self, name: str) -> bool:
        """True for a field that exists: core, display name, or a declared attribute."""
        return name in CORE or name == DISPLAY_NAME or name in self.attributes


@dataclass(frozen=True)
class Clean:
    """A value as it is stored: normalised text, and its number for range queries."""

    value: str
    number: Decimal | None = None


@dataclass(frozen=True)
class NewContact:
    """A new contact that passed every check: its kind and the writer's clean values."""

    kind: Kind
    values: Mapping[str, Clean]

    def addresses(self) -> list[str]:
        """The normalised addresses that make this contact the same as a known one."""
        return addresses_of(self.values)


def normalise_email(raw: str) -> str:
    """The form under which two spellings of one address are the same contact."""
    return raw.strip().lower()


def addresses_of(values: Mapping[str, Clean]) -> list[str]:
    """The normalised email addresses among these values."""
    return sorted(
        {normalise_email(v.value) for name, v in values.items() if CORE.get(name) and
         CORE[name].type is FieldType.EMAIL}
    )  # fmt: skip


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


def clean_value(catalogue: Catalogue, name: str, raw: str) -> Clean | str:
    """The stored form of `raw` for field `name`, or the reason it is refused."""
    kind = catalogue.type_of(name)
    if kind is None:
        return "is not a field of the catalogue"
    text = raw.strip()
    if not text:
        return "must not be empty (clear the field instead)"
    if kind in (FieldType.TEXT,):
        longest = MAX_TEXT if (split_attribute(name) or name in LONG_TEXT_FIELDS) else MAX_NAME
        pattern = _CONTROL_BUT_LINES if longest == MAX_TEXT else _CONTROL
        if len(text) > longest:
            return f"at most {longest} characters"
        return "must not contain control characters" if pattern.search(text) else Clean(text)
    return _TYPED[kind](catalogue, name, text)


def _number(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    try:
        number = Decimal(text.replace(",", ".") if text.count(",") == 1 else text)
    except InvalidOperation:
        return "must be a number"
    if not number.is_finite() or abs(number) >= Decimal(10) ** 15:
        return "must be a finite number below 10^15"
    return Clean(format(number.normalize(), "f"), number)


def _date(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    try:
        return Clean(date.fromisoformat(text).isoformat()) if len(text) == 10 else "must be a date"
    except ValueError:
        return "must be a date written YYYY-MM-DD"


def _boolean(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "oui"):
        return Clean("true")
    if lowered in ("false", "0", "no", "non"):
        return Clean("false")
    return "must be true or false"


def _choice(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    spec = catalogue.attributes[name]
    return Clean(text) if text in spec.choices else "must be one of the declared choices"


def _email(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    return Clean(text) if is_valid_address(text) else "must be a valid email address"


def _phone(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return "must be a phone number"
    if not phonenumbers.is_valid_number(number):
        return "must be a valid phone number"
    return Clean(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _time_zone(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    return Clean(text) if is_time_zone(text) else "must be an IANA time zone, e.g. Europe/Paris"


def _language(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    code = text.lower()
    return Clean(code) if LANGUAGE.fullmatch(code) else "must be a two-letter ISO 639-1 code"


def _contact(catalogue: Catalogue, name: str, text: str) -> Clean | str:
    return Clean(text) if is_contact_id(text) else "must be a contact id"


_TYPED = {
    FieldType.NUMBER: _number,
    FieldType.DATE: _date,
    FieldType.BOOLEAN: _boolean,
    FieldType.ENUM: _choice,
    FieldType.EMAIL: _email,
    FieldType.PHONE: _phone,
    FieldType.TIME_ZONE: _time_zone,
    FieldType.LANGUAGE: _language,
    FieldType.CONTACT: _contact,
}


def clean_values(
    problems: Violations, catalogue: Catalogue, raw: Mapping[str, str], prefix: str
) -> dict[str, Clean]:
    """The clean values of `raw`; each refused one is a violation named `prefix.field`."""
    if len(raw) > MAX_FIELDS:
        problems.add(prefix, f"at most {MAX_FIELDS} fields")
        return {}
    clean: dict[str, Clean] = {}
    for name, value in raw.items():
        result = clean_value(catalogue, name, value)
        if isinstance(result, str):
            problems.add(f"{prefix}.{_shown_name(name)}", result)
        else:
            clean[name] = result
    return clean


def _shown_name(name: str) -> str:
    """A field name safe to echo in an error: a caller's arbitrary key is not repeated."""
    return name if len(name) <= 120 and not _CONTROL.search(name) else "<field>"


def validate_new_contact(
    catalogue: Catalogue, kind: Kind | None, raw: Mapping[str, str]
) -> NewContact:
    """The new contact, or InvalidArgument listing every problem."""
    problems = Violations()
    values = clean_values(problems, catalogue, raw, "fields")
    if kind is None:
        problems.add("kind", "must be CONTACT_KIND_PERSON or CONTACT_KIND_COMPANY")
    reachable = {"email", "private_email", "phone", "private_phone"} & set(raw)
    if kind is Kind.PERSON and not reachable:
        problems.add("fields", "a person needs an email address or a phone number")
    if kind is Kind.COMPANY and "organisation" not in raw:
        problems.add("fields.organisation", "a company needs an organisation name")
    problems.raise_if_any()
    assert kind is not None  # reported above otherwise
    return NewContact(kind, values)


def validate_update(
    catalogue: Catalogue, etag: str, raw_set: Mapping[str, str], clear: Sequence[str]
) -> tuple[dict[str, Clean], list[str]]:
    """(values to set, fields to clear), or InvalidArgument."""
    problems = Violations()
    if not etag:
        problems.add("etag", "is required: the etag of the contact as last read")
    values = clean_values(problems, catalogue, raw_set, "set")
    for index, name in enumerate(clear):
        if catalogue.type_of(name) is None:
            problems.add(f"clear[{index}]", "is not a field of the catalogue")
        elif name in raw_set:
            problems.add(f"clear[{index}]", "is also set in this request")
    if not raw_set and not clear:
        problems.add("set", "nothing to change")
    problems.raise_if_any()
    return values, list(dict.fromkeys(clear))


def validate_attribute_definition(spec: AttributeSpec) -> AttributeSpec:
    """The declaration, trimmed, or InvalidArgument."""
    problems = Violations()
    if not COMPONENT_ID.fullmatch(spec.component_id):
        problems.add("attribute.component_id", "must be a component id")
    if not ATTRIBUTE_KEY.fullmatch(spec.key):
        problems.add("attribute.key", "must match [a-z][a-z0-9_]{0,63}")
    if spec.type not in ATTRIBUTE_TYPES:
        problems.add("attribute.type", "must be text, number, date, boolean or enum")
    choices = tuple(spec.choices)  # as written: the published schema checks them so too
    if spec.type is FieldType.ENUM and not choices:
        problems.add("attribute.choices", "an enum needs at least one choice")
    if spec.type is not FieldType.ENUM and choices:
        problems.add("attribute.choices", "only an enum has choices")
    if len(choices) > MAX_CHOICES or len(set(choices)) != len(choices):
        problems.add("attribute.choices", f"at most {MAX_CHOICES} distinct choices")
    if any(not c.strip() or len(c) > MAX_NAME or _CONTROL.search(c) for c in choices):
        problems.add("attribute.choices", f"each choice: 1 to {MAX_NAME} printable characters")
    labels = {}
    for name in ("label_fr", "label_en"):
        labels[name] = _text(problems, f"attribute.{name}", getattr(spec, name)) or spec.key
    problems.raise_if_any()
    return AttributeSpec(spec.component_id, spec.key, spec.type, choices, **labels)


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


def require_component_id(name: str, value: str) -> str:
    """`value` when it is a well-formed component id, else InvalidArgument on `name`."""
    if not COMPONENT_ID.fullmatch(value):
        raise invalid(name, "must be a component id: 2 to 40 characters among a-z, 0-9 and -")
    return value


def require_contact_id(name: str, value: str) -> str:
    """`value` when it is a contact id, else InvalidArgument on `name`."""
    if not is_contact_id(value):
        raise invalid(name, "must be a contact id (a lower-case UUID)")
    return value


def validate_recipients_request(
    component_id: str, purpose: str, contact_ids: Sequence[str], fields: Sequence[str]
) -> None:
    """Raises InvalidArgument unless a recipients batch is well formed."""
    problems = Violations()
    if not COMPONENT_ID.fullmatch(component_id):
        problems.add("component_id", "must be a component id: 2 to 40 characters among a-z, 0-9, -")
    if not is_purpose_key(purpose):
        problems.add("purpose", f"must be {PURPOSE_KEY_RULE}")
    if len(contact_ids) > MAX_RECIPIENTS:
        problems.add("contact_ids", f"at most {MAX_RECIPIENTS} ids per call")
    if len(fields) > MAX_FIELDS:
        problems.add("fields", f"at most {MAX_FIELDS} fields")
    problems.raise_if_any()


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE, most: int = MAX_PAGE_SIZE) -> int:
    """The page size to serve: `default` when unset, at most `most`; negative is an error."""
    return page_tokens.page_size(requested, default, most)


def _text(problems: Violations, name: str, value: str) -> str | None:
    """A trimmed short text (None when empty), with a violation when too long or unprintable."""
    clean = value.strip()
    if len(clean) > MAX_NAME:
        problems.add(name, f"at most {MAX_NAME} characters")
    elif _CONTROL.search(clean):
        problems.add(name, "must not contain control characters")
    return clean or None


# --- Search filters ------------------------------------------------------------------------

MAX_FILTERS = 20
# The one answer about a field the caller may not filter on: the same whether the field
# does not exist or exists but none of its values is readable by the caller.
NOT_FILTERABLE = "is not a field the caller may filter on"


@dataclass(frozen=True)
class RawFilter:
    """A filter as sent: the field and either `equals` or a range (`ranged`, min, max)."""

    field: str
    equals: str | None = None
    ranged: bool = False
    min: str = ""
    max: str = ""


def validate_query(
    catalogue: Catalogue,
    readable: Callable[[str], bool],
    kind: Kind | None,
    updated_since: str,
    filters: Sequence[RawFilter],
) -> Query:
    """The checked query, or InvalidArgument listing every problem.

    A field is checked for existence and readability (`readable`) first, and a
    field failing either gets the same violation, so that no answer tells a
    hidden field from an unknown one; its condition is only checked after that.
    """
    problems = Violations()
    since = _instant(problems, "updated_since", updated_since) if updated_since else None
    if len(filters) > MAX_FILTERS:
        problems.add("filters", f"at most {MAX_FILTERS} filters")
        filters = ()
    conditions = []
    for index, raw in enumerate(filters):
        path = f"filters[{index}]"
        kind_of_field = catalogue.type_of(raw.field)
        if kind_of_field is None or not readable(raw.field):
            problems.add(f"{path}.field", NOT_FILTERABLE)
            continue
        condition = _condition(problems, catalogue, path, raw, kind_of_field)
        if condition is not None:
            conditions.append(condition)
    problems.raise_if_any()
    return Query(kind, since, tuple(conditions))


def _condition(
    problems: Violations, catalogue: Catalogue, path: str, raw: RawFilter, kind: FieldType
) -> Condition | None:
    if raw.equals is None and not raw.ranged:
        problems.add(path, "needs `equals` or `range`")
        return None
    if raw.equals is not None:
        equals = _bound(problems, catalogue, f"{path}.equals", raw.field, raw.equals)
        return Condition(raw.field, kind, equals=equals) if equals is not None else None
    if kind not in RANGED:
        problems.add(f"{path}.range", "only number and date fields take a range")
        return None
    low = _bound(problems, catalogue, f"{path}.range.min", raw.field, raw.min) if raw.min else None
    high = _bound(problems, catalogue, f"{path}.range.max", raw.field, raw.max) if raw.max else None
    if (raw.min and low is None) or (raw.max and high is None):
        return None
    if low is None and high is None:
        problems.add(f"{path}.range", "needs `min`, `max` or both")
        return None
    return Condition(raw.field, kind, low=low, high=high)


def _bound(
    problems: Violations, catalogue: Catalogue, path: str, name: str, raw: str
) -> str | None:
    """The stored form of a value a filter compares with; None (and a violation) if refused."""
    result = clean_value(catalogue, name, raw)
    if isinstance(result, str):
        problems.add(path, result)
        return None
    return result.value


def _instant(problems: Violations, name: str, text: str) -> datetime | None:
    """An RFC 3339 date-time with its offset, e.g. 2025-01-31T08:00:00Z."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text.upper():
        problems.add(name, "must be an RFC 3339 date-time with offset, e.g. 2025-01-31T08:00:00Z")
        return None
    return moment
