"""The gRPC adapter of ContactsService: request in, use case, response out."""

from __future__ import annotations

import grpc

from meshkit.db import Database
from meshkit.identity import current_principal
from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from services.contacts import mapping, service


class ContactsServicer(contacts_pb2_grpc.ContactsServiceServicer):
    """Maps each RPC to its use case; identity comes from the auth interceptor."""

    def __init__(self, db: Database):
        self._db = db

    def CreateComponent(
        self, request: pb.CreateComponentRequest, context: grpc.ServicerContext
    ) -> pb.Component:
        component = service.create_component(
            self._db, current_principal(), request.id, request.name
        )
        return mapping.component_message(component)

    def ListComponents(
        self, request: pb.ListComponentsRequest, context: grpc.ServicerContext
    ) -> pb.ListComponentsResponse:
        components = service.list_components(self._db, current_principal())
        return pb.ListComponentsResponse(
            components=[mapping.component_message(c) for c in components]
        )

    def CreateContact(
        self, request: pb.CreateContactRequest, context: grpc.ServicerContext
    ) -> pb.CreateContactResponse:
        view, joined = service.create_contact(
            self._db, current_principal(), mapping.contact_input(request)
        )
        return pb.CreateContactResponse(
            contact=mapping.contact_message(view), joined_existing=joined
        )

    def GetContact(
        self, request: pb.GetContactRequest, context: grpc.ServicerContext
    ) -> pb.Contact:
        view = service.get_contact(self._db, current_principal(), request.id)
        return mapping.contact_message(view)

    def ListContacts(
        self, request: pb.ListContactsRequest, context: grpc.ServicerContext
    ) -> pb.ListContactsResponse:
        page = service.list_contacts(
            self._db, current_principal(), request.member_of, request.page_size, request.page_token
        )
        return pb.ListContactsResponse(
            contacts=[mapping.contact_message(v) for v in page.contacts],
            next_page_token=page.next_page_token,
        )

    def SetAttribute(
        self, request: pb.SetAttributeRequest, context: grpc.ServicerContext
    ) -> pb.Contact:
        attribute = (
            mapping.attribute_input(request.attribute) if request.HasField("attribute") else None
        )
        view = service.set_attribute(self._db, current_principal(), request.contact_id, attribute)
        return mapping.contact_message(view)

    def ResolveRecipients(
        self, request: pb.ResolveRecipientsRequest, context: grpc.ServicerContext
    ) -> pb.ResolveRecipientsResponse:
        resolutions = service.resolve_recipients(
            self._db,
            current_principal(),
            request.component_id,
            request.purpose,
            list(request.contact_ids),
        )
        return pb.ResolveRecipientsResponse(
            recipients=[mapping.recipient_message(r) for r in resolutions]
        )

    def ExistingContacts(
        self, request: pb.ExistingContactsRequest, context: grpc.ServicerContext
    ) -> pb.ExistingContactsResponse:
        found = service.existing_contacts(self._db, current_principal(), list(request.ids))
        return pb.ExistingContactsResponse(existing_ids=found)
