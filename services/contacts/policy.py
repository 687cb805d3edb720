"""Who may read and who may write each field of a contact: the heart of the product.

Every value of a contact belongs to the component that wrote it (its owner):
two components that know the same person each keep their own first name,
phone, notes. A component's attributes (`sciences.taxe_apprentissage`) are
owned by that component alone.

A field policy lists, for one field, the grants that allow reading it and
those that allow writing it. A grant names an audience (the owner component,
the contact's member components, named beneficiary components, or the whole
grouping) and may narrow it to a service, a minimum hierarchy level or one
person; its conditions all hold at once, and any one grant suffices.

Deny by default: a field no policy names is readable by its owner component
alone, and writable by nobody else. Nothing else in the service decides: every
read path builds its answer with `view_of`, every write path asks `refused_writes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from meshkit.fields import CORE, DISPLAY_NAME, EMAIL_FIELDS, split_attribute

WORK_EMAIL = "email"  # Courriel professionnel (meshkit.fields)
COMPANY_ID = "company_id"

DEFAULT_TIME_ZONE = "Europe/Paris"
DEFAULT_LANGUAGE = "fr"


class Kind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class Reachability(StrEnum):
    OK = "ok"
    NOT_MEMBER = "not_member"  # also said of an id that names no contact: nothing to learn
    NO_EMAIL = "no_email"


class Audience(StrEnum):
    """Whom a grant is about, before its narrowing conditions."""

    OWNER = "owner"  # the component that holds the value
    MEMBERS = "members"  # the components the contact is a member of
    COMPONENTS = "components"  # the beneficiary components the grant names
    GROUPING = "grouping"  # every component of the grouping


@dataclass(frozen=True)
class Grant:
    """One way to be allowed: an audience, narrowed by every condition that is set."""

    audience: Audience
    components: frozenset[str] = frozenset()  # with COMPONENTS
    service: str | None = None  # the viewer's service inside its component
    min_level: str | None = None  # the viewer's hierarchy level, at least this one
    subject: str | None = None  # one named person


OWNER_ONLY = (Grant(Audience.OWNER),)


@dataclass(frozen=True)
class FieldPolicy:
    """Who may read, write and aggregate one field; an empty list allows nobody.

    `aggregate` grants the use of the field's values in aggregates only (Aggregate), never
    their reading: the grouping may aggregate `sciences.taxe_apprentissage` while only the
    beneficiary component reads it. Whoever may read a value may also aggregate it.
    """

    field: str
    read: tuple[Grant, ...] = OWNER_ONLY
    write: tuple[Grant, ...] = OWNER_ONLY
    aggregate: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a person acting for a component (or a service acting for one)."""

    subject: str
    component: str | None
    service: str | None = None
    level: str | None = None
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rules:
    """The field policies in force and the hierarchy levels, lowest first."""

    policies: Mapping[str, FieldPolicy] = field(default_factory=lambda: MappingProxyType({}))
    levels: tuple[str, ...] = ()

    def policy(self, name: str) -> FieldPolicy:
        """The policy of a field; one no policy names is its owner's alone."""
        return self.policies.get(name) or FieldPolicy(name)


@dataclass(frozen=True)
class Value:
    """One value of one field, held by its owner component."""

    field: str
    owner: str
    value: str


@dataclass(frozen=True)
class Contact:
    """Everything known about one contact, before any filtering."""

    id: str
    kind: Kind
    members: frozenset[str] = frozenset()
    values: tuple[Value, ...] = ()


@dataclass(frozen=True)
class ContactView:
    """What one viewer may see of a contact: the only thing responses are built from.

    `fields` holds one value per field the viewer may read: its own component's
    when it has one, else the first readable one in owner order.
    """

    id: str
    kind: Kind
    fields: Mapping[str, Value]
    member_components: tuple[str, ...]


def admits(grant: Grant, viewer: Viewer, owner: str, members: frozenset[str], rules: Rules) -> bool:
    """True when every condition of the grant holds for this viewer and value."""
    component = viewer.component
    if component is None and grant.audience is not Audience.GROUPING:
        return False  # a grouping-level person is in the grouping, in no component
    if grant.audience is Audience.OWNER and component != owner:
        return False
    if grant.audience is Audience.MEMBERS and component not in members:
        return False
    if grant.audience is Audience.COMPONENTS and component not in grant.components:
        return False
    if grant.service is not None and viewer.service != grant.service:
        return False
    if grant.subject is not None and viewer.subject != grant.subject:
        return False
    return grant.min_level is None or _at_least(viewer.level, grant.min_level, rules.levels)


def _at_least(level: str | None, minimum: str, levels: Sequence[str]) -> bool:
    # An unknown level, on either side, is below every level: deny by default.
    if level not in levels or minimum not in levels:
        return False
    return levels.index(level) >= levels.index(minimum)


def may_read(rules: Rules, viewer: Viewer, name: str, owner: str, members: frozenset[str]) -> bool:
    """True when the viewer may read the value of field `name` held by `owner`."""
    return any(admits(g, viewer, owner, members, rules) for g in rules.policy(name).read)


def may_aggregate(
    rules: Rules, viewer: Viewer, name: str, owner: str, members: frozenset[str]
) -> bool:
    """True when the viewer may use the value of field `name` held by `owner` in aggregates."""
    policy = rules.policy(name)
    return any(admits(g, viewer, owner, members, rules) for g in (*policy.read, *policy.aggregate))


def may_write(rules: Rules, viewer: Viewer, name: str, owner: str, members: frozenset[str]) -> bool:
    """True when the viewer may write the value of field `name` held by `owner`."""
    if name == DISPLAY_NAME:
        return False  # derived, never written
    attribute = split_attribute(name)
    if attribute is not None and attribute[0] != owner:
        return False  # a component's attribute is held by that component only
    return any(admits(g, viewer, owner, members, rules) for g in rules.policy(name).write)


def owner_of_write(viewer: Viewer, name: str) -> str | None:
    """The component whose value a write by `viewer` to field `name` would change."""
    attribute = split_attribute(name)
    return attribute[0] if attribute is not None else viewer.component


def refused_writes(
    rules: Rules, viewer: Viewer, names: Iterable[str], members: frozenset[str]
) -> list[str]:
    """The fields among `names` the viewer may not write: one of them refuses the whole write."""
    refused = []
    for name in names:
        owner = owner_of_write(viewer, name)
        if owner is None or not may_write(rules, viewer, name, owner, members):
            refused.append(name)
    return refused


def display_name(
    kind: Kind, first_name: str | None, last_name: str | None, organisation: str | None
) -> str | None:
    """A company's organisation; a person's first name and last initial ("Marie D.")."""
    if kind is Kind.COMPANY:
        return organisation or None
    initial = f"{last_name[0]}." if last_name else ""
    name = " ".join(part for part in (first_name or "", initial) if part)
    return name or None


def view_of(contact: Contact, viewer: Viewer, rules: Rules) -> ContactView:
    """The view of `contact` for `viewer`: every value the rules allow, and nothing else."""
    chosen: dict[str, Value] = {}
    for value in sorted(contact.values, key=lambda v: (v.owner != viewer.component, v.owner)):
        if value.field in chosen:
            continue
        if may_read(rules, viewer, value.field, value.owner, contact.members):
            chosen[value.field] = value
    derived = _display_name(contact, viewer, rules)
    if derived is not None:
        chosen[DISPLAY_NAME] = derived
    return ContactView(
        contact.id, contact.kind, MappingProxyType(chosen), tuple(sorted(contact.members))
    )


def _display_name(contact: Contact, viewer: Viewer, rules: Rules) -> Value | None:
    """The display name built from one owner's names (the viewer's own first), if readable."""
    for owner in sorted(
        {v.owner for v in contact.values}, key=lambda o: (o != viewer.component, o)
    ):
        if not may_read(rules, viewer, DISPLAY_NAME, owner, contact.members):
            continue
        mine = {v.field: v.value for v in contact.values if v.owner == owner}
        name = display_name(
            contact.kind, mine.get("first_name"), mine.get("last_name"), mine.get("organisation")
        )
        if name:
            return Value(DISPLAY_NAME, owner, name)
    return None


def sensitive(rules: Rules, name: str) -> bool:
    """True unless the whole grouping may read the field: each read of it is audited."""
    return not any(
        g.audience is Audience.GROUPING
        and g.service is None
        and g.min_level is None
        and g.subject is None
        for g in rules.policy(name).read
    )


# --- Campaigns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """Whether a component may address a contact, and with which values."""

    contact_id: str
    reachability: Reachability
    email: str = ""
    time_zone: str = ""
    merge_fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    shown: tuple[str, ...] = ()  # sensitive fields whose values were handed over
    # The address is the work `email` of a company, or of a person with a company:
    # consent reads its basis rules for a business contact.
    professional_address: bool = False


def resolve(
    contact_id: str,
    contact: Contact | None,
    component: str,
    wanted: Sequence[str],
    rules: Rules,
) -> Resolution:
    """May `component` address this contact by email, and with which of the `wanted` fields.

    A contact that does not exist and one the component is not a member of get the
    same answer, so a campaign cannot probe ids.
    """
    if contact is None or component not in contact.members:
        return Resolution(contact_id, Reachability.NOT_MEMBER)
    viewer = Viewer(subject=f"component:{component}", component=component)
    view = view_of(contact, viewer, rules)
    address_field = next((f for f in EMAIL_FIELDS if f in view.fields), None)
    if address_field is None:
        return Resolution(contact_id, Reachability.NO_EMAIL)
    email = view.fields[address_field].value
    merged = {name: view.fields[name].value for name in wanted if name in view.fields}
    time_zone = view.fields.get("time_zone")
    return Resolution(
        contact_id,
        Reachability.OK,
        email=email,
        time_zone=time_zone.value if time_zone else DEFAULT_TIME_ZONE,
        merge_fields=MappingProxyType(merged),
        shown=tuple(name for name in merged if sensitive(rules, name)),
        professional_address=address_field == WORK_EMAIL and is_business(contact),
    )


def is_business(contact: Contact) -> bool:
    """A company, or a person who works for one (a company_id value, whoever wrote it)."""
    return contact.kind is Kind.COMPANY or any(v.field == COMPANY_ID for v in contact.values)


def is_known_field(name: str, declared: frozenset[str]) -> bool:
    """True for a core field, the display name, or an attribute some component declared."""
    return name in CORE or name == DISPLAY_NAME or name in declared


# --- Search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadScope:
    """Whose values of one field a viewer may read, as conditions a query can test.

    The union of: every owner (`everyone`), the viewer's own component (`own`),
    and any owner on a contact the viewer's component is a member of (`as_member`).
    Service, level and subject conditions depend only on the viewer, so they are
    already decided here; what is left depends on the owner and the members only.
    """

    component: str | None
    everyone: bool = False
    own: bool = False
    as_member: bool = False

    @property
    def nothing(self) -> bool:
        """True when the viewer may read no value of the field at all."""
        return not (self.everyone or self.own or self.as_member)

    def admits(self, owner: str, members: frozenset[str]) -> bool:
        """The same answer `may_read` gives for a value of this field (for checks and tests)."""
        return (
            self.everyone
            or (self.own and owner == self.component)
            or (self.as_member and self.component in members)
        )


def read_scope(rules: Rules, viewer: Viewer, name: str) -> ReadScope:
    """Which values of field `name` the viewer may read, whatever the contact.

    `read_scope(...).admits(owner, members) == may_read(rules, viewer, name, owner, members)`
    for every owner and member set; the search translates it into SQL. An
    attribute is held by its component only, so a scope naming only another
    owner is no scope at all.
    """
    return _scope(rules, viewer, name, rules.policy(name).read)


def aggregate_scope(rules: Rules, viewer: Viewer, name: str) -> ReadScope:
    """Which values of field `name` the viewer may aggregate (read or aggregate grants).

    `aggregate_scope(...).admits(owner, members) == may_aggregate(rules, viewer, name, owner,
    members)` for every owner and member set; the aggregate query translates it into SQL.
    """
    policy = rules.policy(name)
    return _scope(rules, viewer, name, (*policy.read, *policy.aggregate))


def _scope(rules: Rules, viewer: Viewer, name: str, grants: Sequence[Grant]) -> ReadScope:
    component = viewer.component
    everyone = own = as_member = False
    for grant in grants:
        if not _admits_viewer(grant, viewer, rules):
            continue
        if grant.audience is Audience.GROUPING:
            everyone = True
        elif component is None:
            continue  # a grouping-level person is in no component
        elif grant.audience is Audience.OWNER:
            own = True
        elif grant.audience is Audience.MEMBERS:
            as_member = True
        elif component in grant.components:  # Audience.COMPONENTS
            everyone = True
    attribute = split_attribute(name)
    if attribute is not None and attribute[0] != component:
        own = False  # only the attribute's component holds values of it
    return ReadScope(component, everyone, own, as_member)


def _admits_viewer(grant: Grant, viewer: Viewer, rules: Rules) -> bool:
    """The conditions of a grant that depend on the viewer alone (service, level, subject)."""
    if grant.service is not None and viewer.service != grant.service:
        return False
    if grant.subject is not None and viewer.subject != grant.subject:
        return False
    return grant.min_level is None or _at_least(viewer.level, grant.min_level, rules.levels)
