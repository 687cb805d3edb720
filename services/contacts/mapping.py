"""Proto messages to domain inputs, and policy views to proto messages.

A response is built from a ContactView only: a field absent from the view
is absent from the message.
"""

from __future__ import annotations

from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.policy import (
    Attribute,
    ContactView,
    Kind,
    Reachability,
    Resolution,
    Visibility,
)
from services.contacts.service import Component
from services.contacts.validation import AttributeInput, ContactInput

_KINDS = {pb.CONTACT_KIND_PERSON: Kind.PERSON, pb.CONTACT_KIND_COMPANY: Kind.COMPANY}
_KINDS_OUT = {kind: number for number, kind in _KINDS.items()}
_VISIBILITIES = {
    pb.VISIBILITY_UNSPECIFIED: Visibility.UNSPECIFIED,
    pb.VISIBILITY_GROUPING: Visibility.GROUPING,
    pb.VISIBILITY_MEMBERS: Visibility.MEMBERS,
    pb.VISIBILITY_OWNER: Visibility.OWNER,
}
_VISIBILITIES_OUT = {visibility: number for number, visibility in _VISIBILITIES.items()}
_REACHABILITIES = {
    Reachability.OK: pb.REACHABILITY_OK,
    Reachability.NOT_FOUND: pb.REACHABILITY_NOT_FOUND,
    Reachability.NOT_MEMBER: pb.REACHABILITY_NOT_MEMBER,
    Reachability.NO_EMAIL: pb.REACHABILITY_NO_EMAIL,
}
_OPTIONAL_FIELDS = (
    "display_name",
    "organisation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "time_zone",
)


def attribute_input(message: pb.AttributeInput) -> AttributeInput:
    """An attribute as sent; an enum number this version does not know becomes None."""
    return AttributeInput(message.key, message.value, _VISIBILITIES.get(message.visibility))


def contact_input(request: pb.CreateContactRequest) -> ContactInput:
    """The new contact a CreateContactRequest describes, before validation."""
    return ContactInput(
        kind=_KINDS.get(request.kind),
        email=request.email,
        first_name=request.first_name,
        last_name=request.last_name,
        organisation=request.organisation,
        phone=request.phone,
        time_zone=request.time_zone,
        attributes=tuple(attribute_input(a) for a in request.attributes),
    )


def contact_message(view: ContactView) -> pb.Contact:
    """The Contact message of a view: exactly the fields the view holds."""
    message = pb.Contact(id=view.id, member_components=list(view.member_components))
    if "kind" in view.fields:
        message.kind = _KINDS_OUT[Kind(view.fields["kind"])]
    for name in _OPTIONAL_FIELDS:
        if name in view.fields:
            setattr(message, name, view.fields[name])
    message.attributes.extend(_attribute_message(a) for a in view.attributes)
    return message


def component_message(component: Component) -> pb.Component:
    return pb.Component(id=component.id, name=component.name)


def recipient_message(resolution: Resolution) -> pb.Recipient:
    """A Recipient: reachability always, address and merge fields only when reachable."""
    return pb.Recipient(
        contact_id=resolution.contact_id,
        reachability=_REACHABILITIES[resolution.reachability],
        email=resolution.email,
        time_zone=resolution.time_zone,
        merge_fields=dict(resolution.merge_fields),
    )


def _attribute_message(attribute: Attribute) -> pb.Attribute:
    return pb.Attribute(
        key=attribute.key,
        value=attribute.value,
        owner_component=attribute.owner,
        visibility=_VISIBILITIES_OUT[attribute.visibility],
    )
