"""Messages are built from views only; enum numbers this version does not know are refused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.mapping import attribute_input, contact_input, contact_message
from services.contacts.policy import Attribute, Contact, Kind, Visibility, view_of

OPTIONAL = (
    "display_name",
    "organisation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "time_zone",
)
CONTACT = Contact(
    "6f6e6863-5644-4f1d-9bf9-aad309b8f9e2",
    Kind.PERSON,
    first_name="Marie",
    last_name="Dupont",
    email="marie@example.fr",
    phone="+33 1 23 45 67 89",
    members=frozenset({"sciences"}),
    attributes=(Attribute("taxe", "12000", "sciences", Visibility.OWNER),),
)


@given(st.none() | st.sampled_from(["sciences", "droit"]))
def test_a_message_carries_exactly_the_fields_of_the_view(viewer):
    view = view_of(CONTACT, viewer)
    message = contact_message(view)
    assert {name for name in OPTIONAL if message.HasField(name)} == set(view.fields) - {"kind"}
    assert [a.key for a in message.attributes] == [a.key for a in view.attributes]


def test_a_non_member_message_has_no_private_value():
    message = contact_message(view_of(CONTACT, "droit"))
    assert "12000" not in str(message) and "marie@" not in str(message)
    assert message.display_name == "Marie D." and message.kind == pb.CONTACT_KIND_PERSON


@given(st.integers(min_value=3, max_value=2**31 - 1))
def test_unknown_kinds_become_none(number):
    assert contact_input(pb.CreateContactRequest(kind=number)).kind is None


@given(st.integers(min_value=4, max_value=2**31 - 1))
def test_unknown_visibilities_become_none(number):
    assert attribute_input(pb.AttributeInput(key="k", visibility=number)).visibility is None


def test_unspecified_visibility_is_kept_as_unspecified():
    message = pb.AttributeInput(key="k", visibility=pb.VISIBILITY_UNSPECIFIED)
    assert attribute_input(message).visibility is Visibility.UNSPECIFIED
