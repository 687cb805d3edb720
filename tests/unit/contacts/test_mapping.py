"""Messages are built from views only: a value absent from the view is absent from the message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.mapping import contact_message, kind_of
from services.contacts.policy import Contact, Kind, Rules, Value, Viewer, view_of
from services.contacts.service import Shown, etag_of

CONTACT = Contact(
    "6f6e6863-5644-4f1d-9bf9-aad309b8f9e2",
    Kind.PERSON,
    frozenset({"sciences", "droit"}),
    (
        Value("first_name", "sciences", "Marie"),
        Value("last_name", "sciences", "Dupont"),
        Value("email", "sciences", "marie@example.fr"),
        Value("sciences.taxe", "sciences", "12000"),
        Value("first_name", "droit", "M."),
    ),
)


@given(st.none() | st.sampled_from(["sciences", "droit", "lettres"]))
def test_a_message_carries_exactly_the_values_of_the_view(component):
    view = view_of(CONTACT, Viewer("x", component), Rules())
    message = contact_message(Shown(view, etag_of(view)))
    assert set(message.fields) == set(view.fields)
    for name, value in view.fields.items():
        assert (message.fields[name].value, message.fields[name].owner_component) == (
            value.value,
            value.owner,
        )
    assert message.etag == etag_of(view)


def test_another_components_message_has_none_of_the_owners_values():
    view = view_of(CONTACT, Viewer("x", "droit"), Rules())
    message = str(contact_message(Shown(view, etag_of(view))))
    assert "12000" not in message and "marie@" not in message and "Dupont" not in message
    assert "M." in message


def test_the_etag_follows_what_the_viewer_sees_and_nothing_else():
    droit = Viewer("x", "droit")
    before = etag_of(view_of(CONTACT, droit, Rules()))
    hidden_change = Contact(
        CONTACT.id,
        CONTACT.kind,
        CONTACT.members,
        tuple(v if v.field != "sciences.taxe" else Value(v.field, v.owner, "99") for v in
              CONTACT.values),
    )  # fmt: skip
    assert etag_of(view_of(hidden_change, droit, Rules())) == before  # no side channel
    assert etag_of(view_of(hidden_change, Viewer("y", "sciences"), Rules())) != etag_of(
        view_of(CONTACT, Viewer("y", "sciences"), Rules())
    )


@given(st.integers(min_value=3, max_value=2**31 - 1))
def test_unknown_kinds_become_none(number):
    assert kind_of(number) is None
    assert kind_of(pb.CONTACT_KIND_COMPANY) is Kind.COMPANY
