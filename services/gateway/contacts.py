"""Components and contacts: REST in front of crm.contacts.v1.ContactsService."""

from __future__ import annotations

from flask import Blueprint

from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import mapping, responses, schemas
from services.gateway.api import ANY_ROLE, Access, Reply, Routes
from services.gateway.clients import upstream

blueprint = Blueprint("contacts", __name__)
routes = Routes(blueprint, "contacts")


@routes.route(
    "POST",
    "/v1/components",
    summary="Register a component of the grouping (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.NewComponent,
    replies=(Reply(201, "The new component.", responses.Component),),
)
def create_component(body: schemas.NewComponent) -> responses.Component:
    """POST /v1/components."""
    return mapping.component(upstream().contacts.CreateComponent(mapping.new_component(body)))


@routes.route(
    "GET",
    "/v1/components",
    summary="List the components of the grouping.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    replies=(Reply(200, "Every component.", responses.ComponentList),),
)
def list_components() -> responses.ComponentList:
    """GET /v1/components."""
    reply = upstream().contacts.ListComponents(contacts_pb2.ListComponentsRequest())
    return responses.ComponentList(components=[mapping.component(c) for c in reply.components])


@routes.route(
    "POST",
    "/v1/contacts",
    summary="Create a contact, or join the existing one with the same email.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    body=schemas.NewContact,
    replies=(
        Reply(201, "A new contact owned by the caller's component.", responses.ContactCreated),
        Reply(
            200, "The email was known: the caller's component joined it.", responses.ContactCreated
        ),
    ),
)
def create_contact(body: schemas.NewContact) -> tuple[responses.ContactCreated, int]:
    """POST /v1/contacts."""
    reply = upstream().contacts.CreateContact(mapping.new_contact(body))
    created = responses.ContactCreated(
        contact=mapping.contact(reply.contact), joined_existing=reply.joined_existing
    )
    return created, 200 if reply.joined_existing else 201


@routes.route(
    "GET",
    "/v1/contacts",
    summary="List the contacts the caller's component is a member of.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page of contacts.", responses.ContactList),),
)
def list_contacts(query: schemas.Page) -> responses.ContactList:
    """GET /v1/contacts."""
    reply = upstream().contacts.ListContacts(
        contacts_pb2.ListContactsRequest(page_size=query.page_size, page_token=query.page_token)
    )
    return responses.ContactList(
        contacts=[mapping.contact(c) for c in reply.contacts],
        next_page_token=reply.next_page_token,
    )


@routes.route(
    "GET",
    "/v1/contacts/<contact_id>",
    summary="Read a contact: only the fields the caller may see are present.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    replies=(Reply(200, "The contact.", responses.Contact),),
)
def get_contact(contact_id: str) -> responses.Contact:
    """GET /v1/contacts/<id>."""
    return mapping.contact(
        upstream().contacts.GetContact(contacts_pb2.GetContactRequest(id=contact_id))
    )


@routes.route(
    "PUT",
    "/v1/contacts/<contact_id>/attributes/<key>",
    summary="Write one attribute owned by the caller's component.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    body=schemas.AttributeUpdate,
    replies=(Reply(200, "The contact after the change.", responses.Contact),),
)
def set_attribute(contact_id: str, key: str, body: schemas.AttributeUpdate) -> responses.Contact:
    """PUT /v1/contacts/<id>/attributes/<key>."""
    request = mapping.attribute_update(contact_id, key, body)
    return mapping.contact(upstream().contacts.SetAttribute(request))
