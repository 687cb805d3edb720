"""Use cases of the contacts service: one transaction each, every read through policy.view_of.

Each use case loads the field policies in force (two small queries), so a
policy change takes effect on the next request in every replica.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    NotFound,
    PermissionDenied,
    Stale,
    Violations,
    invalid,
)
from meshkit.fields import EMAIL_FIELDS
from meshkit.identity import Principal
from meshkit.organisation import Tree
from meshkit.roles import Role
from services.contacts import organisation, repository
from services.contacts.policy import (
    Contact,
    ContactView,
    Kind,
    ReadScope,
    Resolution,
    Rules,
    Value,
    Viewer,
    owner_of_write,
    read_scope,
    refused_writes,
    resolve,
    sensitive,
    view_of,
)
from services.contacts.search import Query, holds
from services.contacts.validation import (
    MAX_RECIPIENTS,
    Clean,
    RawFilter,
    addresses_of,
    is_contact_id,
    normalise_email,
    page_size,
    require_component_id,
    validate_component,
    validate_new_contact,
    validate_query,
    validate_recipients_request,
    validate_update,
)

# The names that bind a page token to its list (see meshkit.page_tokens).
COMPONENTS_LIST = "components"
CONTACTS_LIST = "contacts"
AUDIENCE_LIST = "contacts.audience"


@dataclass(frozen=True)
class Component:
    id: str
    name: str


@dataclass(frozen=True)
class Shown:
    """A contact as one caller sees it, with the etag of that view."""

    view: ContactView
    etag: str
    merged_from: str = ""


@dataclass(frozen=True)
class ViewAs:
    """A placement in the tree an administrator reads a contact as ("view as")."""

    component: str
    service: str | None = None
    level: str | None = None


@dataclass(frozen=True)
class ContactPage:
    contacts: list[Shown]
    next_page_token: str


# --- Organisation ------------------------------------------------------------------------


def create_component(db: Database, principal: Principal, component_id: str, name: str) -> Component:
    """Registers a component of the grouping (administrators only)."""
    principal.require_admin()
    component_id, name = validate_component(component_id, name)
    with db.transaction() as session:
        if not repository.add_component(session, component_id, name):
            raise AlreadyExists("a component with this id already exists")
    return Component(component_id, name)


def list_components(
    db: Database, principal: Principal, requested_size: int = 0, page_token: str = ""
) -> tuple[list[Component], str]:
    """One page of the registered components in id order (any authenticated caller),
    and the token of the next page ("" on the last)."""
    size = page_size(requested_size)
    after = page_tokens.after_str(page_token, COMPONENTS_LIST)
    with db.transaction() as session:
        rows = repository.components(session, after, size + 1)
    page = [Component(*row) for row in rows[:size]]
    more = len(rows) > size
    return page, page_tokens.encode(COMPONENTS_LIST, (page[-1].id,)) if more else ""


def viewer_of(session: Session, principal: Principal) -> Viewer:
    """The caller as the policies see it: checked against the tree, which is authoritative.

    A token naming a component, service or level the tree does not know is refused;
    a person of the tree acts with the tree's component, service, level and roles.
    """
    effective = organisation.effective_principal(session, principal)
    return Viewer(
        effective.subject,
        effective.component,
        effective.service,
        effective.level,
        frozenset(effective.roles),
    )


# --- Contacts ----------------------------------------------------------------------------


def create_contact(
    db: Database, principal: Principal, kind: Kind | None, fields: Mapping[str, str]
) -> tuple[Shown, bool]:
    """Creates a contact for the caller's component, or joins the one with a known address.

    Returns the caller's view and whether an existing record was joined. The
    caller's values are its component's own: joining changes nobody else's values.
    """
    component = principal.require_component()
    principal.require_role(Role.CONTACT_EDITOR)
    with db.transaction() as session:
        _require_registered(session, component)
        catalogue = repository.load_catalogue(session)
        new = validate_new_contact(catalogue, kind, fields)
        rules = organisation.rules(session)
        viewer = viewer_of(session, principal)
        _refuse_unwritable(rules, viewer, new.values, frozenset({component}))
        existing = repository.contact_for_addresses(session, new.addresses())
        if existing is None:
            contact_id = repository.insert_contact(session, new.kind)
            existing = repository.claim_addresses(session, contact_id, new.addresses())
            if existing is not None:  # another creator committed one of these addresses first
                repository.release_addresses(session, contact_id, new.addresses())
                repository.delete_contact_row(session, contact_id)
        contact_id = existing or contact_id
        if not repository.add_membership(session, contact_id, component):
            raise AlreadyExists(f"this contact is already known to your component as {contact_id}")
        joined = existing is not None
        # A new contact claimed its addresses on insert; a joined one must not take another's.
        if joined and repository.claim_addresses(session, contact_id, new.addresses()):
            # One address, one contact: joining one record must not put another's address on it.
            raise AlreadyExists(
                "the addresses belong to two different contacts; merge them first",
                [FieldViolation("fields", "addresses of two different contacts")],
            )
        _write(session, viewer, contact_id, new.values, [], principal.subject)
        if joined:
            repository.touch(session, contact_id)
        action = "joined" if joined else "created"
        repository.record_change(
            session, contact_id, action, principal.subject, component, new.values
        )
        shown = _show(session, principal, viewer, rules, [contact_id], "CreateContact")[0]
    return shown, joined


def get_contact(
    db: Database, principal: Principal, contact_id: str, view_as: ViewAs | None = None
) -> Shown:
    """The caller's view of one contact; a merged-away id shows its survivor.

    With `view_as` (administrators only), the view a viewer placed there would get,
    decided by the same policy code; each protected value shown is audited as the
    administrator's read, its route naming the placement.
    """
    if view_as is not None:
        principal.require_admin()
    if not contact_id:
        raise invalid("id", "is required")
    route = "GetContact" if view_as is None else f"GetContact:view_as:{view_as.component}"

    def read(session: Session) -> tuple[str, list[Shown]]:
        # One query for the counter, a merge redirect, kind and members; one for the values.
        found = repository.read_contact(session, contact_id) if is_contact_id(contact_id) else None
        state = organisation.snapshot(session, found.version if found else None)
        if view_as is None:
            viewer = viewer_of(session, principal)
        else:
            viewer = placed_viewer(state.tree, view_as)
        if found is None or found.contact is None:
            return contact_id, []
        return found.target, _shown(session, principal, viewer, state.rules, [found.contact], route)

    # No transaction around it (no BEGIN, no COMMIT round trip): under READ COMMITTED each
    # statement saw its own snapshot anyway, and the audit insert is one statement that
    # has committed before the answer leaves. Run again on a dropped connection: at worst
    # a read audited twice, never unaudited.
    target, shown = db.run(read, autocommit=True)
    if not shown:
        raise NotFound("contact not found")
    if target != contact_id:
        return Shown(shown[0].view, shown[0].etag, merged_from=contact_id)
    return shown[0]


def placed_viewer(tree: Tree, placement: ViewAs) -> Viewer:
    """A synthetic viewer with this placement and the viewer role, checked against the tree.

    It has no subject, so no grant naming one person admits it: what it sees is what
    any viewer placed there sees. InvalidArgument, per field, for a name the tree ignores.
    """
    problems = Violations()
    if not placement.component:
        problems.add("view_as.component_id", "is required")
    elif placement.component not in tree.components:
        problems.add("view_as.component_id", "names no component of the organisation")
    if placement.service and (placement.component, placement.service) not in tree.services:
        problems.add("view_as.service_id", "names no service of this component")
    if placement.level and placement.level not in tree.levels:
        problems.add("view_as.level", "names no hierarchy level")
    problems.raise_if_any()
    return Viewer(
        "",
        placement.component,
        placement.service or None,
        placement.level or None,
        frozenset({Role.VIEWER.value}),
    )


def update_contact(
    db: Database,
    principal: Principal,
    contact_id: str,
    etag: str,
    raw_set: Mapping[str, str],
    clear: Sequence[str],
) -> Shown:
    """Changes the caller's component's values, if `etag` is still the caller's view."""
    component = principal.require_component()
    principal.require_role(Role.CONTACT_EDITOR)
    with db.transaction() as session:
        catalogue = repository.load_catalogue(session)
        values, clear = validate_update(catalogue, etag, raw_set, clear)
        kind = repository.lock_contact(session, contact_id) if is_contact_id(contact_id) else None
        if kind is None:
            raise NotFound("contact not found")
        rules = organisation.rules(session)
        viewer = viewer_of(session, principal)
        contact = repository.load_contacts(session, [contact_id])[contact_id]
        if component not in contact.members:
            raise PermissionDenied("the caller's component is not a member of this contact")
        if etag_of(view_of(contact, viewer, rules)) != etag:
            raise Stale("the contact changed since it was read; read it again")
        _refuse_unwritable(rules, viewer, [*values, *clear], contact.members)
        _rebind_addresses(session, contact_id, component, contact.values, values, clear)
        _write(session, viewer, contact_id, values, clear, principal.subject)
        repository.touch(session, contact_id)
        repository.record_change(
            session, contact_id, "updated", principal.subject, component, [*values, *clear]
        )
        return _show(session, principal, viewer, rules, [contact_id], "UpdateContact")[0]


def leave_contact(db: Database, principal: Principal, contact_id: str) -> bool:
    """The caller's component stops being a member; True when that removed the contact."""
    component = principal.require_component()
    principal.require_role(Role.CONTACT_EDITOR)
    with db.transaction() as session:
        if not is_contact_id(contact_id) or repository.lock_contact(session, contact_id) is None:
            raise NotFound("contact not found")
        contact = repository.load_contacts(session, [contact_id])[contact_id]
        if component not in contact.members:
            raise PermissionDenied("the caller's component is not a member of this contact")
        mine = [v.field for v in contact.values if v.owner == component]
        _rebind_addresses(session, contact_id, component, contact.values, {}, mine)
        repository.delete_values(session, contact_id, component)
        repository.remove_membership(session, contact_id, component)
        repository.record_change(session, contact_id, "left", principal.subject, component, mine)
        if contact.members == {component}:
            repository.remove_contact(session, contact_id)
            return True
        repository.touch(session, contact_id)
    return False


def delete_contact(db: Database, principal: Principal, contact_id: str) -> None:
    """Removes a contact and every value of it (administrators only)."""
    principal.require_admin()
    with db.transaction() as session:
        if not is_contact_id(contact_id) or repository.lock_contact(session, contact_id) is None:
            raise NotFound("contact not found")
        repository.remove_contact(session, contact_id)
        repository.record_change(session, contact_id, "deleted", principal.subject, None)


def search_contacts(
    db: Database,
    principal: Principal,
    member_of: str,
    kind: Kind | None,
    updated_since: str,
    filters: Sequence[RawFilter],
    requested_size: int,
    page_token: str,
) -> ContactPage:
    """One page of the contacts a component is a member of that match the filters, in id order.

    A filter holds when one value of its field the caller may read matches; no
    count is given, and a field the caller may not read at all is refused
    exactly like a field that does not exist.
    """
    scope = _listing_scope(principal, member_of)
    size = page_size(requested_size)
    with db.transaction() as session:
        if not repository.component_exists(session, scope):
            raise NotFound("member_of: no such component")
        rules = organisation.rules(session)
        viewer = viewer_of(session, principal)
        query, scopes = _checked_query(session, rules, viewer, kind, updated_since, filters)
        after = _contact_after(page_token, CONTACTS_LIST, scope, query)
        ids = repository.search_ids(session, scope, query, scopes, after, size + 1)
        page = ids[:size]
        if query.conditions:  # defence in depth: decide again on the loaded contacts
            loaded = repository.load_contacts(session, page)
            page = [
                i for i in page if i in loaded and holds(loaded[i], viewer, rules, query.conditions)
            ]
        shown = _show(session, principal, viewer, rules, page, "SearchContacts")
    if len(ids) <= size:
        return ContactPage(shown, "")
    return ContactPage(
        shown, page_tokens.encode(CONTACTS_LIST, (ids[size - 1],), scope, query.digest())
    )


def _checked_query(
    session: Session,
    rules: Rules,
    viewer: Viewer,
    kind: Kind | None,
    updated_since: str,
    filters: Sequence[RawFilter],
) -> tuple[Query, dict[str, ReadScope]]:
    """The validated query and, per filtered field, whose values the viewer may read."""
    scopes = {f.field: read_scope(rules, viewer, f.field) for f in filters}
    catalogue = repository.load_catalogue(session)
    query = validate_query(
        catalogue, lambda name: not scopes[name].nothing, kind, updated_since, filters
    )
    return query, scopes


# --- For the other services --------------------------------------------------------------


def audience_ids(
    db: Database,
    principal: Principal,
    component_id: str,
    kind: Kind | None,
    filters: Sequence[RawFilter],
    requested_size: int,
    page_token: str,
) -> tuple[list[str], str]:
    """Ids of a component's contacts matching the filters, read as that component.

    Services only. No value leaves the service and nothing is audited: the
    filters are decided in SQL alone, as the component (no service, no level).
    """
    principal.require_service()
    scope = require_component_id("component_id", component_id)
    size = page_size(requested_size, default=1000, most=10_000)
    with db.transaction() as session:
        if not repository.component_exists(session, scope):
            raise NotFound("component_id: no such component")
        rules = organisation.rules(session)
        viewer = Viewer(subject=f"component:{scope}", component=scope)
        query, scopes = _checked_query(session, rules, viewer, kind, "", filters)
        after = _contact_after(page_token, AUDIENCE_LIST, scope, query)
        ids = repository.search_ids(session, scope, query, scopes, after, size + 1)
    if len(ids) <= size:
        return ids, ""
    return ids[:size], page_tokens.encode(AUDIENCE_LIST, (ids[size - 1],), scope, query.digest())


def _contact_after(token: str, listing: str, scope: str, query: Query) -> str | None:
    """The contact id a listing's token resumes after: bound to the component and the
    query (kind, filters), so a position cannot be carried into another query."""
    last = page_tokens.after_str(token, listing, scope, query.digest())
    if last is not None and not is_contact_id(last):
        raise page_tokens.refused()
    return last


def resolve_recipients(
    db: Database,
    principal: Principal,
    component_id: str,
    purpose: str,
    contact_ids: Sequence[str],
    fields: Sequence[str],
) -> list[Resolution]:
    """Per id, in request order: may the component email this contact, and with what.

    Only the `fields` a message merges are handed over, and each protected one is
    an audited read on behalf of the component.
    """
    principal.require_service()
    validate_recipients_request(component_id, purpose, contact_ids, fields)
    with db.transaction() as session:
        if not repository.component_exists(session, component_id):
            raise NotFound("component_id: no such component")
        rules = organisation.rules(session)
        wanted = [i for i in contact_ids if is_contact_id(i)]
        merged = repository.survivors(session, wanted)  # a merged-away id reads as its survivor
        contacts = repository.load_contacts(session, [merged.get(i, i) for i in wanted])
        resolutions = [
            resolve(i, contacts.get(merged.get(i, i)), component_id, fields, rules)
            for i in contact_ids
        ]
        repository.record_sensitive_reads(
            session,
            [
                repository.SensitiveRead(
                    principal.subject,
                    component_id,
                    merged.get(r.contact_id, r.contact_id),
                    name,
                    _owner_shown(
                        contacts[merged.get(r.contact_id, r.contact_id)], name, component_id
                    ),
                    "ResolveRecipients",
                )
                for r in resolutions
                for name in r.shown
            ],
        )
    return resolutions


def existing_contacts(
    db: Database, principal: Principal, ids: Sequence[str]
) -> list[tuple[str, frozenset[str]]]:
    """The requested ids that name a contact, in request order, each once, with the
    components each is a member of (its survivor's, when merged).

    Services of the mesh only (consent checks a contact exists, and who may speak
    for it, before it writes), so that no component can probe which ids exist.
    Three queries per batch.
    """
    principal.require_service()
    if len(ids) > MAX_RECIPIENTS:
        raise invalid("ids", f"at most {MAX_RECIPIENTS} ids per call")
    wanted = list(dict.fromkeys(i for i in ids if is_contact_id(i)))
    with db.transaction() as session:
        merged = repository.survivors(session, wanted)  # a merged-away id names its survivor
        kinds, members = repository.kinds_and_members(session, {merged.get(i, i) for i in wanted})
    return [
        (i, frozenset(members.get(merged.get(i, i), ())))
        for i in wanted
        if merged.get(i, i) in kinds
    ]


# --- Shared steps ------------------------------------------------------------------------


def etag_of(view: ContactView) -> str:
    """A tag of exactly what this caller sees: it changes only when that changes."""
    content = json.dumps(
        [
            view.kind.value,
            sorted((name, v.owner, v.value) for name, v in view.fields.items()),
            view.member_components,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(content.encode()).hexdigest()[:24]


def _show(
    session: Session,
    principal: Principal,
    viewer: Viewer,
    rules: Rules,
    ids: Sequence[str],
    route: str,
) -> list[Shown]:
    """The viewer's views of these contacts (unknown ids skipped), protected reads audited."""
    contacts = repository.load_contacts(session, [i for i in ids if is_contact_id(i)])
    return _shown(
        session, principal, viewer, rules, [contacts[i] for i in ids if i in contacts], route
    )


def _shown(
    session: Session,
    principal: Principal,
    viewer: Viewer,
    rules: Rules,
    contacts: Sequence[Contact],
    route: str,
) -> list[Shown]:
    """The viewer's views of these loaded contacts, protected reads audited."""
    views = [view_of(contact, viewer, rules) for contact in contacts]
    repository.record_sensitive_reads(session, _sensitive_reads(principal, rules, views, route))
    return [Shown(view, etag_of(view)) for view in views]


def _sensitive_reads(
    principal: Principal, rules: Rules, views: Iterable[ContactView], route: str
) -> list[repository.SensitiveRead]:
    return [
        repository.SensitiveRead(
            principal.subject, principal.component or "", view.id, name, value.owner, route
        )
        for view in views
        for name, value in view.fields.items()
        if sensitive(rules, name)
    ]


def _owner_shown(contact: Contact, name: str, component: str) -> str:
    """The owner of the value `resolve` handed over for `name` (the component's view)."""
    owners = sorted({v.owner for v in contact.values if v.field == name})
    return component if component in owners else (owners[0] if owners else component)


def _write(
    session: Session,
    viewer: Viewer,
    contact_id: str,
    values: Mapping[str, Clean],
    clear: Sequence[str],
    subject: str,
) -> None:
    """Writes each value where it belongs: a component's attribute to that component,
    a core field to the writer's component (the policy has allowed each one already)."""
    owners: dict[str, tuple[dict[str, Clean], list[str]]] = {}
    for name, value in values.items():
        owners.setdefault(owner_of_write(viewer, name) or "", ({}, []))[0][name] = value
    for name in clear:
        owners.setdefault(owner_of_write(viewer, name) or "", ({}, []))[1].append(name)
    for owner, (to_set, to_clear) in owners.items():
        repository.put_values(session, contact_id, owner, to_set, subject)
        if to_clear:
            repository.delete_values(session, contact_id, owner, to_clear)


def _refuse_unwritable(
    rules: Rules, viewer: Viewer, names: Iterable[str], members: frozenset[str]
) -> None:
    """PermissionDenied naming every field the caller may not write: the write is refused whole."""
    refused = refused_writes(rules, viewer, names, members)
    if refused:
        raise PermissionDenied(
            "the field policies do not let the caller write these fields",
            [FieldViolation(name, "not writable by the caller") for name in refused],
        )


def _rebind_addresses(
    session: Session,
    contact_id: str,
    component: str,
    current: Iterable[Value],
    values: Mapping[str, Clean],
    clear: Iterable[str],
) -> None:
    """Keeps the address index equal to the addresses the contact's values hold."""
    current = list(current)
    removed = set(clear) | set(values)
    kept = {
        normalise_email(v.value)
        for v in current
        if v.field in EMAIL_FIELDS and not (v.owner == component and v.field in removed)
    }
    new = set(addresses_of(values))
    before = {normalise_email(v.value) for v in current if v.field in EMAIL_FIELDS}
    holder = repository.claim_addresses(session, contact_id, new - before)
    if holder is not None:
        raise AlreadyExists(
            "an address belongs to another contact; merge the two contacts instead",
            [FieldViolation("set", "an address of another contact")],
        )
    repository.release_addresses(session, contact_id, before - kept - new)


def _listing_scope(principal: Principal, member_of: str) -> str:
    """The component whose contacts are listed."""
    if principal.is_admin and not principal.component:
        if not member_of:
            raise invalid("member_of", "is required for a caller without a component")
        return require_component_id("member_of", member_of)
    own = principal.require_component()
    if member_of and member_of != own:
        raise PermissionDenied("a caller may only list the contacts of its own component")
    return own


def _require_registered(session: Session, component: str) -> None:
    if not repository.component_exists(session, component):
        raise FailedPrecondition("the caller's component is not registered")
