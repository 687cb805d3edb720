"""Use cases of the contacts service: one transaction each, every read through policy.view_of."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from meshkit.db import Database
from meshkit.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied, invalid
from meshkit.identity import Principal
from services.contacts import page_tokens, repository
from services.contacts.policy import ContactView, Resolution, owner_only_fields, resolve, view_of
from services.contacts.validation import (
    MAX_RECIPIENTS,
    AttributeInput,
    ContactInput,
    is_contact_id,
    page_size,
    require_component_id,
    validate_attribute,
    validate_component,
    validate_contact,
    validate_recipients_request,
)


@dataclass(frozen=True)
class Component:
    id: str
    name: str


@dataclass(frozen=True)
class ContactPage:
    contacts: list[ContactView]
    next_page_token: str


def create_component(db: Database, principal: Principal, component_id: str, name: str) -> Component:
    """Registers a component of the grouping (administrators only)."""
    principal.require_admin()
    component_id, name = validate_component(component_id, name)
    with db.transaction() as session:
        if not repository.add_component(session, component_id, name):
            raise AlreadyExists("a component with this id already exists")
    return Component(component_id, name)


def list_components(db: Database, principal: Principal) -> list[Component]:
    """Every registered component (any authenticated caller)."""
    with db.transaction() as session:
        return [Component(*row) for row in repository.components(session)]


def create_contact(
    db: Database, principal: Principal, raw: ContactInput
) -> tuple[ContactView, bool]:
    """Creates a contact for the caller's component, or joins the one with the same email.

    Returns the caller's view and whether an existing record was joined. Joining
    never changes core fields: only membership and the caller's own attributes.
    """
    component = principal.require_component()
    contact = validate_contact(raw)
    with db.transaction() as session:
        _require_registered_own(session, component)
        contact_id, joined = repository.insert_or_find(session, contact)
        repository.add_membership(session, contact_id, component)
        for attribute in contact.attributes:
            repository.put_attribute(session, contact_id, component, attribute)
        view = _views(session, principal, component, [contact_id])[0]
    return view, joined


def get_contact(db: Database, principal: Principal, contact_id: str) -> ContactView:
    """The caller's view of one contact (grouping-level only for a non-member)."""
    viewer = _reader(principal)
    if not contact_id:
        raise invalid("id", "is required")
    with db.transaction() as session:
        views = _views(session, principal, viewer, [contact_id])
    if not views:
        raise NotFound("contact not found")
    return views[0]


def list_contacts(
    db: Database, principal: Principal, member_of: str, requested_size: int, page_token: str
) -> ContactPage:
    """One page of the contacts a component is a member of, seen by the caller."""
    scope, viewer = _listing_scope(principal, member_of)
    size = page_size(requested_size)
    after = page_tokens.decode(page_token, scope)
    with db.transaction() as session:
        if not repository.component_exists(session, scope):
            raise NotFound("member_of: no such component")
        ids = repository.member_ids(session, scope, after, size + 1)
        views = _views(session, principal, viewer, ids[:size])
    next_token = page_tokens.encode(scope, ids[size - 1]) if len(ids) > size else ""
    return ContactPage(views, next_token)


def set_attribute(
    db: Database, principal: Principal, contact_id: str, attribute: AttributeInput | None
) -> ContactView:
    """Writes one attribute owned by the caller's component; returns the caller's view."""
    component = principal.require_component()
    if not contact_id:
        raise invalid("contact_id", "is required")
    attribute = validate_attribute("attribute", attribute)
    with db.transaction() as session:
        if not is_contact_id(contact_id) or not repository.contact_exists(session, contact_id):
            raise NotFound("contact not found")
        if not repository.is_member(session, contact_id, component):
            raise PermissionDenied("the caller's component is not a member of this contact")
        repository.put_attribute(session, contact_id, component, attribute)
        view = _views(session, principal, component, [contact_id])[0]
    return view


def resolve_recipients(
    db: Database,
    principal: Principal,
    component_id: str,
    purpose: str,
    contact_ids: Sequence[str],
) -> list[Resolution]:
    """Per id, in request order: may the component email this contact, and with what.

    `purpose` is validated and kept for the rules to come (contacts shared with the
    whole grouping for a purpose); today only membership decides.
    """
    principal.require_service()
    validate_recipients_request(component_id, purpose, contact_ids)
    with db.transaction() as session:
        if not repository.component_exists(session, component_id):
            raise NotFound("component_id: no such component")
        contacts = repository.load_contacts(session, [i for i in contact_ids if is_contact_id(i)])
        resolutions = [resolve(i, contacts.get(i), component_id) for i in contact_ids]
        shown = [r.view for r in resolutions if r.view is not None]
        repository.record_sensitive_reads(session, _sensitive_reads(principal, component_id, shown))
    return resolutions


def existing_contacts(db: Database, principal: Principal, ids: Sequence[str]) -> list[str]:
    """The requested ids that name a contact, in request order, each once.

    Services of the mesh only (consent checks a contact exists before it writes),
    so that no component can probe which ids exist. One query per batch.
    """
    principal.require_service()
    if len(ids) > MAX_RECIPIENTS:
        raise invalid("ids", f"at most {MAX_RECIPIENTS} ids per call")
    wanted = list(dict.fromkeys(i for i in ids if is_contact_id(i)))
    with db.transaction() as session:
        found = repository.existing_ids(session, wanted)
    return [i for i in wanted if i in found]


def _reader(principal: Principal) -> str | None:
    """The component a reader sees contacts as; None for an administrator without one."""
    if principal.component:
        return principal.component
    if principal.is_admin:
        return None
    raise PermissionDenied("reading contacts needs a token bound to a component")


def _listing_scope(principal: Principal, member_of: str) -> tuple[str, str | None]:
    """(component whose contacts are listed, component whose view is returned)."""
    if principal.is_service:
        if not member_of:
            raise invalid("member_of", "is required for a service caller")
        scope = require_component_id("member_of", member_of)
        return scope, scope
    if principal.is_admin:
        requested = member_of or principal.component or ""
        if not requested:
            raise invalid("member_of", "is required for a caller without a component")
        return require_component_id("member_of", requested), principal.component
    own = principal.require_component()
    if member_of and member_of != own:
        raise PermissionDenied("a caller may only list the contacts of its own component")
    return own, own


def _require_registered_own(session: Session, component: str) -> None:
    if not repository.component_exists(session, component):
        raise FailedPrecondition("the caller's component is not registered")


def _views(
    session: Session, principal: Principal, viewer: str | None, ids: Sequence[str]
) -> list[ContactView]:
    """The viewer's views of these contacts (unknown ids skipped), sensitive reads audited."""
    contacts = repository.load_contacts(session, [i for i in ids if is_contact_id(i)])
    views = [view_of(contacts[i], viewer) for i in ids if i in contacts]
    if viewer is not None:
        repository.record_sensitive_reads(session, _sensitive_reads(principal, viewer, views))
    return views


def _sensitive_reads(
    principal: Principal, viewer: str, views: Iterable[ContactView]
) -> list[repository.SensitiveRead]:
    return [
        repository.SensitiveRead(principal.subject, viewer, view.id, field)
        for view in views
        for field in owner_only_fields(view)
    ]
