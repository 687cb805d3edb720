"""Components and contacts: REST in front of crm.contacts.v1.ContactsService."""

from __future__ import annotations

from flask import Blueprint, Response

from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import mapping, paging, responses, schemas
from services.gateway.api import ANY_ROLE, Access, Reply, Routes, json_response
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
    query=schemas.Page,
    replies=(Reply(200, "One page of components, in id order.", responses.ComponentList),),
)
def list_components(query: schemas.Page) -> Response:
    """GET /v1/components."""
    reply = upstream().contacts.ListComponents(
        contacts_pb2.ListComponentsRequest(page_size=query.page_size, page_token=query.page_token)
    )
    listed = responses.ComponentList(
        components=[mapping.component(c) for c in reply.components],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "POST",
    "/v1/contacts",
    summary="Create a contact, or join the existing one that has one of its addresses.",
    access=Access.COMPONENT,
    role=Role.CONTACT_EDITOR,
    body=schemas.NewContact,
    replies=(
        Reply(201, "A new contact, known to the caller's component.", responses.ContactCreated),
        Reply(
            200,
            "An address was known: the caller's component joined that contact, with its own "
            "values; it sees others' values only as the field policies allow.",
            responses.ContactCreated,
        ),
    ),
)
def create_contact(body: schemas.NewContact) -> Response:
    """POST /v1/contacts."""
    reply = upstream().contacts.CreateContact(mapping.new_contact(body))
    created = responses.ContactCreated(
        contact=mapping.contact(reply.contact), joined_existing=reply.joined_existing
    )
    status = 200 if reply.joined_existing else 201
    return json_response(created, status, etag=reply.contact.etag)


@routes.route(
    "GET",
    "/v1/contacts",
    summary="List the contacts the caller's component is a member of, in id order.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.ContactSearch,
    replies=(Reply(200, "One page of contacts.", responses.ContactList),),
)
def list_contacts(query: schemas.ContactSearch) -> Response:
    """GET /v1/contacts."""
    reply = upstream().contacts.SearchContacts(mapping.contact_search(query))
    listed = responses.ContactList(
        contacts=[mapping.contact(c) for c in reply.contacts],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "GET",
    "/v1/contacts/<contact_id>",
    summary="Read a contact: only the values the caller may read are present.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    replies=(Reply(200, "The contact, with its ETag.", responses.Contact),),
)
def get_contact(contact_id: str) -> Response:
    """GET /v1/contacts/<id>."""
    found = upstream().contacts.GetContact(contacts_pb2.GetContactRequest(id=contact_id))
    return json_response(mapping.contact(found), 200, etag=found.etag)


@routes.route(
    "PATCH",
    "/v1/contacts/<contact_id>",
    summary="Change the caller's component's values (merge patch; null removes a value).",
    access=Access.COMPONENT,
    role=Role.CONTACT_EDITOR,
    body=schemas.ContactPatch,
    if_match=True,
    replies=(Reply(200, "The contact after the change, with its new ETag.", responses.Contact),),
)
def patch_contact(contact_id: str, etag: str, body: schemas.ContactPatch) -> Response:
    """PATCH /v1/contacts/<id>."""
    changed = upstream().contacts.UpdateContact(mapping.contact_patch(contact_id, etag, body))
    return json_response(mapping.contact(changed), 200, etag=changed.etag)


@routes.route(
    "DELETE",
    "/v1/contacts/<contact_id>/membership",
    summary="The caller's component leaves the contact; its values of it are dropped.",
    access=Access.COMPONENT,
    role=Role.CONTACT_EDITOR,
    replies=(Reply(200, "Left.", responses.Left),),
)
def leave_contact(contact_id: str) -> responses.Left:
    """DELETE /v1/contacts/<id>/membership."""
    reply = upstream().contacts.LeaveContact(contacts_pb2.LeaveContactRequest(id=contact_id))
    return responses.Left(contact_deleted=reply.contact_deleted)


@routes.route(
    "DELETE",
    "/v1/contacts/<contact_id>",
    summary="Delete a contact and all its values (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    replies=(Reply(204, "Deleted.", media_type=""),),
)
def delete_contact(contact_id: str) -> Response:
    """DELETE /v1/contacts/<id>."""
    upstream().contacts.DeleteContact(contacts_pb2.DeleteContactRequest(id=contact_id))
    return Response(status=204)
