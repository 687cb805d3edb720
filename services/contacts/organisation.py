"""Use cases of the organisation tree, the field catalogue and the field policies.

Administrators build the tree (components, services, levels, people), declare
attributes and set field policies; any signed-in caller reads them (the people
of the tree only for administrators and the mesh's services). Every token is
checked against the tree as the database holds it now: `effective_principal`.

Reads do not load the tree and the field policies each time: each process keeps
them in memory (`snapshot`) with the value of the database's change counter they
were read at, and reads only that counter (one primary-key row) per call. Every
write to the tree or the policies bumps the counter in its own transaction (by
database triggers), so the next call on any replica after the commit sees it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from meshkit import access, page_tokens
from meshkit.db import Database
from meshkit.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    NotFound,
    Violations,
    invalid,
)
from meshkit.fields import CORE_FIELDS, DISPLAY_NAME, FieldType
from meshkit.identity import Principal
from meshkit.organisation import Person, Tree
from meshkit.roles import Role
from services.contacts import repository
from services.contacts.policy import Audience, FieldPolicy, Grant, Rules
from services.contacts.validation import (
    COMPONENT_ID,
    AttributeSpec,
    page_size,
    validate_attribute_definition,
)

SLUG = COMPONENT_ID  # services and levels are named like components
MAX_SUBJECT = 200
MAX_LEVELS = 20
MAX_GRANTS = 50
CATALOGUE_LIST = "catalogue"
POLICIES_LIST = "field-policies"
POLICY_CHANGES_LIST = "field-policies.changes"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PERSON_ROLES = frozenset(r.value for r in Role if r is not Role.SERVICE)


@dataclass(frozen=True)
class OrgService:
    component_id: str
    id: str
    name: str


@dataclass(frozen=True)
class Organisation:
    components: list[tuple[str, str]]
    services: list[OrgService]
    levels: tuple[str, ...]
    people: list[Person]  # empty unless the caller is an administrator or a service


@dataclass(frozen=True)
class FieldDefinition:
    field: str
    type: FieldType
    label_fr: str
    label_en: str
    choices: tuple[str, ...] = ()
    component_id: str = ""
    mergeable: bool = True


@dataclass(frozen=True)
class PolicyChange:
    field: str
    before: FieldPolicy | None
    after: FieldPolicy
    changed_by: str
    changed_at: datetime


# --- The tree and the rules in memory, keyed by the change counter -----------------------


@dataclass(frozen=True)
class Snapshot:
    """The whole tree and the field policies in force, as of one organisation version."""

    version: int
    tree: Tree
    rules: Rules


class _Snapshots:
    """The latest snapshot of one database; reloaded when its version is not the current one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one load at a time: concurrent calls wait for it
        self._latest: Snapshot | None = None

    def current(self, session: Session, version: int) -> Snapshot:
        latest = self._latest
        if latest is not None and latest.version == version:
            return latest
        with self._lock:
            latest = self._latest
            if latest is not None and latest.version == version:
                return latest
            loaded = _load_snapshot(session, version)
            # A call that read an older counter must not replace a newer snapshot.
            if latest is None or latest.version < version:
                self._latest = loaded
            return loaded


_snapshots: WeakKeyDictionary[Engine, _Snapshots] = WeakKeyDictionary()
_snapshots_lock = threading.Lock()


def snapshot(session: Session, version: int | None = None) -> Snapshot:
    """The tree and the rules as of the version the database holds now (cached per process).

    `version`: the counter as this session just read it, to spare reading it again.
    """
    # The counter is read before the tree: a tree read newer than its label is only
    # read again at the next call; a tree older than its label cannot be kept.
    if version is None:
        version = repository.organisation_version(session)
    engine = session.get_bind().engine  # the session's engine, or its connection's
    with _snapshots_lock:
        snapshots = _snapshots.get(engine)
        if snapshots is None:
            snapshots = _snapshots[engine] = _Snapshots()
    return snapshots.current(session, version)


def rules(session: Session) -> Rules:
    """The field policies in force and the levels, as of now (from the process's snapshot)."""
    return snapshot(session).rules


def _load_snapshot(session: Session, version: int) -> Snapshot:
    loaded = repository.load_rules(session)
    return Snapshot(
        version,
        tree_for(session, None),
        Rules(MappingProxyType(dict(loaded.policies)), loaded.levels),
    )


# --- Tokens against the tree ------------------------------------------------------------


def tree_for(session: Session, subject: str | None) -> Tree:
    """The tree read now: names, levels, and `subject`'s row if any (every person's for None)."""
    rows = repository.people(session, subject)
    return Tree(
        components=frozenset(c for c, _ in repository.components(session)),
        services=frozenset((c, s) for c, s, _ in repository.org_services(session)),
        levels=repository.levels(session),
        people=MappingProxyType({row.subject: _person(row) for row in rows}),
    )


def effective_principal(session: Session, principal: Principal) -> Principal:
    """The caller as the tree sees it (PermissionDenied for a name the tree does not know)."""
    if principal.is_service or principal.placed:
        return principal  # a service, or already placed by this request's check
    return snapshot(session).tree.effective(principal)


def check(db: Database, method: str, principal: Principal) -> Principal:
    """The gRPC principal check of contacts: the tree as of now, then the role of `method`."""
    if not principal.is_service:
        caller = principal
        # One statement (the counter) while the tree is unchanged: no transaction around it.
        principal = db.run(lambda session: effective_principal(session, caller), autocommit=True)
    access.require(method, principal)
    return principal


def _person(row: Any) -> Person:
    return Person(
        row.subject,
        row.component_id or None,
        row.service_id or None,
        row.level or None,
        frozenset(row.roles or ()),
    )


# --- Organisation tree ------------------------------------------------------------------


def create_service(
    db: Database, principal: Principal, component_id: str, service_id: str, name: str
) -> OrgService:
    """Adds a service inside a registered component (administrators only)."""
    principal.require_admin()
    problems = Violations()
    if not COMPONENT_ID.fullmatch(component_id):
        problems.add("component_id", "must be a component id")
    if not SLUG.fullmatch(service_id):
        problems.add("id", "must be 2 to 40 characters among a-z, 0-9 and -")
    clean_name = _short_text(problems, "name", name, required=True)
    problems.raise_if_any()
    with db.transaction() as session:
        if not repository.component_exists(session, component_id):
            raise NotFound("component_id: no such component")
        if not repository.add_org_service(session, component_id, service_id, clean_name):
            raise AlreadyExists("this component already has a service with this id")
    return OrgService(component_id, service_id, clean_name)


def set_levels(db: Database, principal: Principal, levels: Sequence[str]) -> tuple[str, ...]:
    """Replaces the hierarchy levels, lowest first (administrators only).

    A level still held by a person or named by a grant cannot be removed.
    """
    principal.require_admin()
    problems = Violations()
    if len(levels) > MAX_LEVELS:
        problems.add("levels", f"at most {MAX_LEVELS} levels")
    for index, level in enumerate(levels):
        if not SLUG.fullmatch(level):
            problems.add(f"levels[{index}]", "must be 2 to 40 characters among a-z, 0-9 and -")
    if len(set(levels)) != len(levels):
        problems.add("levels", "each level once")
    problems.raise_if_any()
    with db.transaction() as session:
        removed = set(repository.levels(session)) - set(levels)
        if removed:
            _refuse_removing_levels(session, removed)
        repository.replace_levels(session, list(levels))
    return tuple(levels)


def _refuse_removing_levels(session: Session, removed: set[str]) -> None:
    held = any(row.level in removed for row in repository.people(session))
    named = any(
        grant.min_level in removed
        for row in repository.field_policy_rows(session)
        for grant in (*repository.grants_of(row.read), *repository.grants_of(row.write))
    )
    if held or named:
        raise FailedPrecondition(
            "a level that people hold or field policies name cannot be removed",
            [FieldViolation("levels", "removes a level still in use")],
        )


def put_person(db: Database, principal: Principal, person: Person) -> Person:
    """Creates or replaces a person's place and roles (administrators only)."""
    principal.require_admin()
    problems = Violations()
    subject = person.subject
    if not subject or len(subject) > MAX_SUBJECT or _CONTROL.search(subject):
        problems.add("person.subject", f"is required: 1 to {MAX_SUBJECT} printable characters")
    if person.component and not COMPONENT_ID.fullmatch(person.component):
        problems.add("person.component_id", "must be a component id")
    if person.service and not person.component:
        problems.add("person.service_id", "a service needs a component")
    elif person.service and not SLUG.fullmatch(person.service):
        problems.add("person.service_id", "must be a service id")
    if person.level and not SLUG.fullmatch(person.level):
        problems.add("person.level", "must be a level id")
    for index, role in enumerate(sorted(person.roles)):
        if role == Role.SERVICE.value:
            problems.add(f"person.roles[{index}]", "the service role is for the mesh's services")
        elif role not in PERSON_ROLES:
            problems.add(f"person.roles[{index}]", "is not a role")
    problems.raise_if_any()
    with db.transaction() as session:
        tree = tree_for(session, subject)
        if person.component and person.component not in tree.components:
            problems.add("person.component_id", "no such component")
        if person.service and (person.component, person.service) not in tree.services:
            problems.add("person.service_id", "no such service in this component")
        if person.level and person.level not in tree.levels:
            problems.add("person.level", "no such level")
        problems.raise_if_any()
        roles = sorted(person.roles)
        repository.put_person(
            session, subject, person.component, person.service, person.level, roles
        )
    return Person(subject, person.component, person.service, person.level, frozenset(roles))


def remove_person(db: Database, principal: Principal, subject: str) -> None:
    """Removes a person from the tree: their tokens carry their roles again (administrators)."""
    principal.require_admin()
    if not subject:
        raise invalid("subject", "is required")
    with db.transaction() as session:
        if not repository.remove_person(session, subject):
            raise NotFound("no such person in the organisation")


def get_organisation(db: Database, principal: Principal) -> Organisation:
    """The whole tree; the people only for administrators and the mesh's services."""
    with db.transaction() as session:
        show_people = principal.is_admin or principal.is_service
        return Organisation(
            components=repository.components(session),
            services=[OrgService(*row) for row in repository.org_services(session)],
            levels=repository.levels(session),
            people=[_person(row) for row in repository.people(session)] if show_people else [],
        )


# --- Catalogue ---------------------------------------------------------------------------


def get_catalogue(
    db: Database, principal: Principal, requested_size: int = 0, page_token: str = ""
) -> tuple[list[FieldDefinition], str]:
    """One page of the catalogue: core fields first, then every declared attribute by
    component and key; and the token of the next page ("" on the last)."""
    size = page_size(requested_size)
    position = page_tokens.decode(page_token, CATALOGUE_LIST, (int, int, str, str))
    start: tuple[int, int, str, str] | None = None
    if position is not None:
        group, index, component, key = position
        assert isinstance(group, int) and isinstance(index, int)  # decode checked the shape
        start = (group, index, str(component), str(key))
    core = [
        (
            (0, i, "", ""),
            FieldDefinition(f.name, f.type, f.label_fr, f.label_en, mergeable=f.mergeable),
        )
        for i, f in enumerate(CORE_FIELDS)
    ]
    with db.transaction() as session:
        catalogue = repository.load_catalogue(session)
    attributes = [
        ((1, 0, spec.component_id, spec.key), _attribute_definition(spec))
        for spec in catalogue.attributes.values()
    ]
    # Keyset on (core first, core order, component, key): the catalogue is in memory anyway.
    ordered = sorted(core + attributes, key=lambda entry: entry[0])
    after = [e for e in ordered if start is None or e[0] > start]
    page = after[:size]
    token = page_tokens.encode(CATALOGUE_LIST, page[-1][0]) if len(after) > size else ""
    return [definition for _, definition in page], token


def _attribute_definition(spec: AttributeSpec) -> FieldDefinition:
    return FieldDefinition(
        spec.field,
        spec.type,
        spec.label_fr,
        spec.label_en,
        spec.choices,
        spec.component_id,
        mergeable=True,
    )


def define_attribute(db: Database, principal: Principal, spec: AttributeSpec) -> AttributeSpec:
    """Declares a component's attribute, or changes it (administrators only).

    Its labels may always change; its type, or a choice of an enum being removed,
    only while no contact holds a value of it.
    """
    principal.require_admin()
    spec = validate_attribute_definition(spec)
    with db.transaction() as session:
        if not repository.component_exists(session, spec.component_id):
            raise NotFound("component_id: no such component")
        current = repository.attribute_definition(session, spec.component_id, spec.key)
        retyped = current is not None and (
            current.type != spec.type.value or not set(current.choices or ()) <= set(spec.choices)
        )
        if retyped and repository.field_holds_values(session, spec.field):
            raise FailedPrecondition(
                "the attribute holds values: its type and choices cannot change now",
                [FieldViolation("attribute.type", "cannot change while values are held")],
            )
        repository.put_attribute_definition(session, spec)
    return spec


# --- Field policies ----------------------------------------------------------------------


def set_field_policy(
    db: Database,
    principal: Principal,
    field: str,
    read: Sequence[Grant | None],
    write: Sequence[Grant | None],
    aggregate: Sequence[Grant | None] = (),
) -> FieldPolicy:
    """Replaces the policy of one field and appends the change to its history (administrators).

    A grant of None had no audience (refused). Every problem is reported at once and
    nothing is written then. Write grants on `display_name` are dropped: it is derived.
    """
    principal.require_admin()
    problems = Violations()
    if max(len(read), len(write), len(aggregate)) > MAX_GRANTS:
        problems.add("policy", f"at most {MAX_GRANTS} grants per list")
    with db.transaction() as session:
        catalogue = repository.load_catalogue(session)
        if not catalogue.knows(field):
            problems.add("policy.field", "is not a field of the catalogue")
        tree = tree_for(session, "")
        service_ids = {s for _, s in tree.services}
        for kind, grants in (("read", read), ("write", write), ("aggregate", aggregate)):
            for index, grant in enumerate(grants):
                at = f"policy.{kind}[{index}]"
                if grant is None:
                    problems.add(f"{at}.audience", "is required")
                else:
                    _check_grant(problems, at, grant, tree, service_ids)
        problems.raise_if_any()
        clean = FieldPolicy(
            field,
            tuple(g for g in read if g is not None),
            () if field == DISPLAY_NAME else tuple(g for g in write if g is not None),
            tuple(g for g in aggregate if g is not None),
        )
        row = repository.field_policy_row(session, field, lock=True)
        before = (
            {"read": list(row.read), "write": list(row.write), "aggregate": list(row.aggregate)}
            if row is not None
            else None
        )
        after = {
            "read": repository.stored_grants(clean.read),
            "write": repository.stored_grants(clean.write),
            "aggregate": repository.stored_grants(clean.aggregate),
        }
        repository.put_field_policy(session, field, before, after, principal.subject)
    return clean


def _check_grant(
    problems: Violations, at: str, grant: Grant, tree: Tree, service_ids: set[str]
) -> None:
    if grant.audience is Audience.COMPONENTS and not grant.components:
        problems.add(f"{at}.components", "AUDIENCE_COMPONENTS names at least one component")
    if grant.audience is not Audience.COMPONENTS and grant.components:
        problems.add(f"{at}.components", "only AUDIENCE_COMPONENTS names components")
    for component in sorted(grant.components):
        if component not in tree.components:
            problems.add(f"{at}.components", "names a component that does not exist")
            break
    if grant.service is not None and grant.service not in service_ids:
        problems.add(f"{at}.service", "no component has a service with this id")
    if grant.min_level is not None and grant.min_level not in tree.levels:
        problems.add(f"{at}.min_level", "no such level")
    subject = grant.subject
    if subject is not None and (len(subject) > MAX_SUBJECT or _CONTROL.search(subject)):
        problems.add(f"{at}.subject", f"at most {MAX_SUBJECT} printable characters")


def list_field_policies(
    db: Database, principal: Principal, requested_size: int = 0, page_token: str = ""
) -> tuple[list[FieldPolicy], str]:
    """One page of the policies an administrator set, by field (every other field is its
    owner's alone), and the token of the next page ("" on the last)."""
    size = page_size(requested_size)
    after = page_tokens.after_str(page_token, POLICIES_LIST)
    with db.transaction() as session:
        rows = repository.field_policy_rows(session, after, size + 1)
    policies = [_policy_of(row.field, row.read, row.write, row.aggregate) for row in rows[:size]]
    if len(rows) <= size:
        return policies, ""
    return policies, page_tokens.encode(POLICIES_LIST, (rows[size - 1].field,))


def _policy_of(
    field: str,
    read: list[dict[str, Any]],
    write: list[dict[str, Any]],
    aggregate: list[dict[str, Any]] | None = None,
) -> FieldPolicy:
    return FieldPolicy(
        field,
        repository.grants_of(read),
        repository.grants_of(write),
        repository.grants_of(aggregate or []),
    )


def _stored_policy(field: str, stored: dict[str, Any]) -> FieldPolicy:
    """A policy as the history keeps it (entries older than 0004 have no "aggregate")."""
    return _policy_of(field, stored["read"], stored["write"], stored.get("aggregate"))


def list_field_policy_changes(
    db: Database, principal: Principal, field: str, requested_size: int, page_token: str
) -> tuple[list[PolicyChange], str]:
    """The policy history, newest first, one page at a time (administrators only)."""
    principal.require_admin()
    size = page_size(requested_size)
    before_id = page_tokens.after_int(page_token, POLICY_CHANGES_LIST, field)
    with db.transaction() as session:
        rows = repository.field_policy_changes(session, field or None, before_id, size + 1)
    changes = [
        PolicyChange(
            row.field,
            _stored_policy(row.field, row.before) if row.before else None,
            _stored_policy(row.field, row.after),
            row.changed_by,
            row.changed_at,
        )
        for row in rows[:size]
    ]
    more = len(rows) > size
    next_token = (
        page_tokens.encode(POLICY_CHANGES_LIST, (rows[size - 1].id,), field) if more else ""
    )
    return changes, next_token


def _short_text(problems: Violations, name: str, value: str, required: bool = False) -> str:
    clean = value.strip()
    if required and not clean:
        problems.add(name, "is required")
    elif len(clean) > 200:
        problems.add(name, "at most 200 characters")
    elif _CONTROL.search(clean):
        problems.add(name, "must not contain control characters")
    return clean
