"""The field catalogue: every field a contact can hold, declared once for the whole mesh.

Core fields are the same for every component and are listed here. Each
component may also declare attributes of its own (typed); their field id is
`<component>.<key>`, e.g. `sciences.taxe_apprentissage`. The contacts service,
the gateway's schemas, campaign merge fields and the tests all read this
module: no other list of field names exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class FieldType(StrEnum):
    """How a value is checked, stored and compared."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"  # ISO 8601 calendar date, YYYY-MM-DD
    BOOLEAN = "boolean"  # "true" or "false"
    ENUM = "enum"  # one of the declared choices
    EMAIL = "email"
    PHONE = "phone"  # E.164
    TIME_ZONE = "time_zone"  # IANA name
    LANGUAGE = "language"  # ISO 639-1 code
    CONTACT = "contact"  # the id of another contact (a person's company)


# The types a component may give its own attributes.
ATTRIBUTE_TYPES = (
    FieldType.TEXT,
    FieldType.NUMBER,
    FieldType.DATE,
    FieldType.BOOLEAN,
    FieldType.ENUM,
)


@dataclass(frozen=True)
class CoreField:
    """A field every contact may have, whichever component writes it."""

    name: str
    type: FieldType
    label_fr: str
    label_en: str
    mergeable: bool = True  # may appear in a campaign's message


CORE_FIELDS: tuple[CoreField, ...] = (
    CoreField("first_name", FieldType.TEXT, "Prénom", "First name"),
    CoreField("last_name", FieldType.TEXT, "Nom", "Last name"),
    CoreField("organisation", FieldType.TEXT, "Organisation", "Organisation"),
    CoreField("job_title", FieldType.TEXT, "Fonction", "Job title"),
    CoreField("email", FieldType.EMAIL, "Courriel professionnel", "Work email"),
    CoreField("private_email", FieldType.EMAIL, "Courriel personnel", "Private email"),
    CoreField("phone", FieldType.PHONE, "Téléphone professionnel", "Work phone"),
    CoreField("private_phone", FieldType.PHONE, "Téléphone personnel", "Private phone"),
    CoreField("postal_address", FieldType.TEXT, "Adresse postale", "Postal address"),
    CoreField("time_zone", FieldType.TIME_ZONE, "Fuseau horaire", "Time zone", False),
    CoreField("language", FieldType.LANGUAGE, "Langue", "Language", False),
    CoreField("company_id", FieldType.CONTACT, "Entreprise", "Company", False),
)
CORE = {field.name: field for field in CORE_FIELDS}

# Derived from the names, never written: "Marie D." for a person, the organisation for a company.
DISPLAY_NAME = "display_name"
# The addresses a mail may go to, in the order they are tried.
EMAIL_FIELDS = ("email", "private_email")

COMPONENT_ID = re.compile(r"[a-z0-9-]{2,40}")
ATTRIBUTE_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
ATTRIBUTE_FIELD = re.compile(r"([a-z0-9-]{2,40})\.([a-z][a-z0-9_]{0,63})")


def attribute_field(component: str, key: str) -> str:
    """The field id of a component's attribute."""
    return f"{component}.{key}"


def split_attribute(field: str) -> tuple[str, str] | None:
    """(component, key) of an attribute field id; None for anything else."""
    match = ATTRIBUTE_FIELD.fullmatch(field)
    return (match[1], match[2]) if match else None


def is_core(field: str) -> bool:
    """True for the name of a core field."""
    return field in CORE


def is_field_id(field: str) -> bool:
    """True for a core field, `display_name`, or a well-formed attribute id."""
    return field in CORE or field == DISPLAY_NAME or split_attribute(field) is not None
