"""The synthetic viewer of "view as": checked against the tree, and seen by the policy
exactly as a real viewer with the same placement (no subject: no person's grant)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument
from meshkit.organisation import Tree
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.mapping import view_as_of
from services.contacts.policy import (
    Audience,
    Contact,
    FieldPolicy,
    Grant,
    Kind,
    Rules,
    Value,
    Viewer,
    view_of,
)
from services.contacts.service import ViewAs, placed_viewer

TREE = Tree(
    components=frozenset({"sciences", "droit"}),
    services=frozenset({("sciences", "alumni"), ("droit", "stages")}),
    levels=("agent", "manager", "director"),
)


def violations(placement: ViewAs) -> set[str]:
    with pytest.raises(InvalidArgument) as caught:
        placed_viewer(TREE, placement)
    return {v.field for v in caught.value.violations}


def test_a_known_placement_is_a_viewer_without_subject() -> None:
    viewer = placed_viewer(TREE, ViewAs("sciences", "alumni", "manager"))
    assert viewer == Viewer("", "sciences", "alumni", "manager", frozenset({"viewer"}))
    assert placed_viewer(TREE, ViewAs("droit")) == Viewer(
        "", "droit", None, None, frozenset({"viewer"})
    )


def test_unknown_names_are_refused_field_by_field() -> None:
    assert violations(ViewAs("")) == {"view_as.component_id"}
    assert violations(ViewAs("medecine")) == {"view_as.component_id"}
    assert violations(ViewAs("droit", "alumni")) == {"view_as.service_id"}  # sciences' service
    assert violations(ViewAs("sciences", None, "emperor")) == {"view_as.level"}
    assert violations(ViewAs("x", "y", "z")) == {
        "view_as.component_id",
        "view_as.service_id",
        "view_as.level",
    }


def test_the_request_field_is_optional() -> None:
    assert view_as_of(pb.GetContactRequest(id="c")) is None
    asked = pb.GetContactRequest(id="c", view_as=pb.ViewAs(component_id="droit"))
    assert view_as_of(asked) == ViewAs("droit", None, None)
    full = pb.ViewAs(component_id="sciences", service_id="alumni", level="agent")
    assert view_as_of(pb.GetContactRequest(view_as=full)) == ViewAs("sciences", "alumni", "agent")


GRANTS = st.builds(
    Grant,
    audience=st.sampled_from(list(Audience)),
    components=st.frozensets(st.sampled_from(["sciences", "droit"]), max_size=2),
    service=st.sampled_from([None, "alumni", "stages"]),
    min_level=st.sampled_from([None, *TREE.levels]),
    subject=st.sampled_from([None, "ann"]),
)
PLACEMENTS = st.tuples(
    st.sampled_from(
        [("sciences", None), ("sciences", "alumni"), ("droit", None), ("droit", "stages")]
    ),
    st.sampled_from([None, *TREE.levels]),
)


@given(
    read=st.lists(GRANTS, max_size=3),
    placement=PLACEMENTS,
    members=st.frozensets(st.sampled_from(["sciences", "droit"]), min_size=1),
)
def test_the_synthetic_viewer_sees_what_a_real_viewer_sees(
    read: list[Grant],
    placement: tuple[tuple[str, str | None], str | None],
    members: frozenset[str],
) -> None:
    (component, service), level = placement
    rules = Rules({"note": FieldPolicy("note", tuple(read))}, TREE.levels)
    contact = Contact(
        "c1",
        Kind.PERSON,
        members,
        tuple(Value("note", owner, f"{owner}-note") for owner in sorted(members)),
    )
    real = Viewer("bob", component, service, level, frozenset({"viewer"}))
    synthetic = placed_viewer(TREE, ViewAs(component, service, level))
    assert view_of(contact, synthetic, rules) == view_of(contact, real, rules)
