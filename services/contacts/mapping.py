"""Proto messages to domain inputs, and policy views to proto messages.

A response is built from a ContactView only: a value absent from the view is
absent from the message.
"""

from __future__ import annotations

from collections.abc import Iterable

from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.policy import Kind, Reachability, Resolution
from services.contacts.service import Component, Shown, ViewAs
from services.contacts.validation import RawFilter

_KINDS = {pb.CONTACT_KIND_PERSON: Kind.PERSON, pb.CONTACT_KIND_COMPANY: Kind.COMPANY}
_KINDS_OUT = {kind: number for number, kind in _KINDS.items()}
_REACHABILITIES = {
    Reachability.OK: pb.REACHABILITY_OK,
    Reachability.NOT_MEMBER: pb.REACHABILITY_NOT_MEMBER,
    Reachability.NO_EMAIL: pb.REACHABILITY_NO_EMAIL,
}


def kind_of(number: int) -> Kind | None:
    """The kind an enum number names; None for unspecified or unknown."""
    return _KINDS.get(number)  # type: ignore[call-overload]


def view_as_of(request: pb.GetContactRequest) -> ViewAs | None:
    """The placement a GetContact asks to view as; None when the request sets none."""
    if not request.HasField("view_as"):
        return None
    placement = request.view_as
    return ViewAs(placement.component_id, placement.service_id or None, placement.level or None)


def contact_message(shown: Shown) -> pb.Contact:
    """The Contact message of a view: exactly the values the view holds."""
    view = shown.view
    return pb.Contact(
        id=view.id,
        kind=_KINDS_OUT[view.kind],
        fields={
            name: pb.FieldValue(value=value.value, owner_component=value.owner)
            for name, value in view.fields.items()
        },
        member_components=list(view.member_components),
        etag=shown.etag,
        merged_from=shown.merged_from,
    )


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
        professional_address=resolution.professional_address,
    )


def existing_message(found: list[tuple[str, frozenset[str]]]) -> pb.ExistingContactsResponse:
    """The ids that exist, alone and with their member components (sorted)."""
    return pb.ExistingContactsResponse(
        existing_ids=[contact_id for contact_id, _ in found],
        contacts=[
            pb.ExistingContact(id=contact_id, member_components=sorted(members))
            for contact_id, members in found
        ],
    )


# --- Search ----------------------------------------------------------------------------------


def raw_filters(filters: Iterable[pb.FieldFilter]) -> list[RawFilter]:
    """FieldFilter messages as sent; validation decides what they mean."""
    raw = []
    for item in filters:
        which = item.WhichOneof("condition")
        if which == "equals":
            raw.append(RawFilter(item.field, equals=item.equals))
        elif which == "range":
            raw.append(RawFilter(item.field, ranged=True, min=item.range.min, max=item.range.max))
        else:
            raw.append(RawFilter(item.field))
    return raw
