"""Who may see which field of a contact, and whether a component may reach it.

Three visibility classes:
- GROUPING: every component of the grouping;
- MEMBERS: the components the contact is a member of;
- OWNER: only the component that wrote the field.

Deny by default: a field no rule names, and an attribute written without a
visibility, are visible to their owner alone. Core fields have no owner
component, so a core field missing from the table below is shown to nobody.
A caller with no component (a plain administrator) sees grouping-level fields.

Every read of a contact (get, list, create, set attribute, campaign merge
fields) goes through `view_of`: nothing else turns a record into a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

DEFAULT_TIME_ZONE = "Europe/Paris"


class Visibility(StrEnum):
    GROUPING = "grouping"
    MEMBERS = "members"
    OWNER = "owner"
    UNSPECIFIED = "unspecified"  # what a writer sends when it says nothing: treated as OWNER


class Kind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class Reachability(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    NOT_MEMBER = "not_member"
    NO_EMAIL = "no_email"


CORE_FIELDS: Mapping[str, Visibility] = MappingProxyType(
    {
        "kind": Visibility.GROUPING,
        "display_name": Visibility.GROUPING,
        "organisation": Visibility.GROUPING,
        "member_components": Visibility.GROUPING,
        "first_name": Visibility.MEMBERS,
        "last_name": Visibility.MEMBERS,
        "email": Visibility.MEMBERS,
        "phone": Visibility.MEMBERS,
        "time_zone": Visibility.MEMBERS,
    }
)

# The fields a campaign may merge into a message, besides the attributes ("attr.<key>").
MERGE_CORE_FIELDS = ("first_name", "last_name", "display_name", "organisation", "email", "phone")


@dataclass(frozen=True)
class Attribute:
    """A value one component wrote about a contact, with the visibility it chose."""

    key: str
    value: str
    owner: str
    visibility: Visibility


@dataclass(frozen=True)
class Contact:
    """Everything known about one contact, before any filtering."""

    id: str
    kind: Kind
    first_name: str | None = None
    last_name: str | None = None
    organisation: str | None = None
    email: str | None = None
    phone: str | None = None
    time_zone: str = DEFAULT_TIME_ZONE
    members: frozenset[str] = frozenset()
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True)
class ContactView:
    """What one viewer may see of a contact: the only thing responses are built from."""

    id: str
    fields: Mapping[str, str]
    member_components: tuple[str, ...]
    attributes: tuple[Attribute, ...]


@dataclass(frozen=True)
class Resolution:
    """Whether a component may address a contact, and with which values."""

    contact_id: str
    reachability: Reachability
    email: str = ""
    time_zone: str = ""
    merge_fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    view: ContactView | None = None


def stored_visibility(requested: Visibility) -> Visibility:
    """The visibility to record for what a writer asked: unspecified means owner only."""
    return Visibility.OWNER if requested is Visibility.UNSPECIFIED else requested


def field_visibility(name: str) -> Visibility:
    """The visibility of a core field; a field no rule names is owner-only."""
    return CORE_FIELDS.get(name, Visibility.OWNER)


def may_see(
    visibility: Visibility, *, viewer: str | None, owner: str | None, members: frozenset[str]
) -> bool:
    """True when `viewer` (a component, or None) may see a field of this visibility."""
    if visibility is Visibility.GROUPING:
        return True
    if viewer is None:
        return False
    if visibility is Visibility.MEMBERS:
        return viewer in members
    return viewer == owner  # OWNER, UNSPECIFIED, and anything a later version adds


def display_name(contact: Contact) -> str | None:
    """A company's organisation; a person's first name and last initial ("Marie D.")."""
    if contact.kind is Kind.COMPANY:
        return contact.organisation or None
    initial = f"{contact.last_name[0]}." if contact.last_name else ""
    name = " ".join(part for part in (contact.first_name or "", initial) if part)
    return name or None


def view_of(contact: Contact, viewer: str | None) -> ContactView:
    """The view of `contact` for `viewer`: every field the rules allow, and nothing else."""
    values = {
        "kind": contact.kind.value,
        "display_name": display_name(contact),
        "organisation": contact.organisation,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "time_zone": contact.time_zone,
    }
    fields = {
        name: value
        for name, value in values.items()
        if value and _core_visible(name, viewer, contact.members)
    }
    members = (
        tuple(sorted(contact.members))
        if _core_visible("member_components", viewer, contact.members)
        else ()
    )
    attributes = tuple(
        sorted(
            (
                a
                for a in contact.attributes
                if may_see(a.visibility, viewer=viewer, owner=a.owner, members=contact.members)
            ),
            key=lambda a: (a.owner, a.key),
        )
    )
    return ContactView(contact.id, MappingProxyType(fields), members, attributes)


def _core_visible(name: str, viewer: str | None, members: frozenset[str]) -> bool:
    return may_see(field_visibility(name), viewer=viewer, owner=None, members=members)


def merge_fields(view: ContactView, viewer: str | None) -> dict[str, str]:
    """The values a message may merge, taken from the viewer's view only."""
    merged = {name: view.fields[name] for name in MERGE_CORE_FIELDS if name in view.fields}
    # Two components may use the same key: the viewer's own value wins, so it is written last.
    for attribute in sorted(view.attributes, key=lambda a: a.owner == viewer):
        merged[f"attr.{attribute.key}"] = attribute.value
    return merged


def owner_only_fields(view: ContactView) -> tuple[str, ...]:
    """Owner-only fields in a view: each one shown to a caller is an audited sensitive read."""
    return tuple(
        f"attr.{a.key}"
        for a in view.attributes
        if stored_visibility(a.visibility) is Visibility.OWNER
    )


def resolve(contact_id: str, contact: Contact | None, component: str) -> Resolution:
    """May `component` address this contact by email, and with which merge fields."""
    if contact is None:
        return Resolution(contact_id, Reachability.NOT_FOUND)
    if component not in contact.members:
        return Resolution(contact_id, Reachability.NOT_MEMBER)
    view = view_of(contact, component)
    email = view.fields.get("email")
    if not email:
        return Resolution(contact_id, Reachability.NO_EMAIL)
    return Resolution(
        contact_id,
        Reachability.OK,
        email=email,
        time_zone=view.fields.get("time_zone", DEFAULT_TIME_ZONE),
        merge_fields=MappingProxyType(merge_fields(view, component)),
        view=view,
    )
