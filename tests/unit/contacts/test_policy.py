"""Properties of the field policy: who sees what, for every viewer, owner, member set."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.contacts.policy import (
    CORE_FIELDS,
    MERGE_CORE_FIELDS,
    Attribute,
    Contact,
    Kind,
    Reachability,
    Visibility,
    display_name,
    field_visibility,
    may_see,
    merge_fields,
    owner_only_fields,
    resolve,
    stored_visibility,
    view_of,
)

COMPONENTS = ("sciences", "droit", "medecine", "ingenierie")
components = st.sampled_from(COMPONENTS)
viewers = st.none() | components
member_sets = st.frozensets(components)
visibilities = st.sampled_from(list(Visibility))
texts = st.none() | st.text(min_size=1, max_size=12)
attributes = st.builds(
    Attribute,
    key=st.sampled_from(["taxe", "don", "tier", "phone_private"]),
    value=st.text(max_size=12),
    owner=components,
    visibility=visibilities,
)


@st.composite
def contacts(draw: st.DrawFn) -> Contact:
    # The primary key (contact, owner, key) allows one value per owner and key.
    attrs = draw(st.lists(attributes, max_size=8, unique_by=lambda a: (a.owner, a.key)))
    return Contact(
        id=draw(st.uuids()).hex,
        kind=draw(st.sampled_from(list(Kind))),
        first_name=draw(texts),
        last_name=draw(texts),
        organisation=draw(texts),
        email=draw(texts),
        phone=draw(texts),
        time_zone=draw(st.sampled_from(["Europe/Paris", "America/Montreal"])),
        members=draw(member_sets),
        attributes=tuple(attrs),
    )


@given(viewers, components, member_sets)
def test_owner_only_is_visible_iff_the_viewer_is_the_owner(viewer, owner, members):
    assert may_see(Visibility.OWNER, viewer=viewer, owner=owner, members=members) == (
        viewer == owner
    )


@given(viewers, st.none() | components, member_sets)
def test_members_level_is_visible_iff_the_viewer_is_a_member(viewer, owner, members):
    expected = viewer is not None and viewer in members
    assert may_see(Visibility.MEMBERS, viewer=viewer, owner=owner, members=members) == expected


@given(viewers, st.none() | components, member_sets)
def test_grouping_level_is_always_visible(viewer, owner, members):
    assert may_see(Visibility.GROUPING, viewer=viewer, owner=owner, members=members)


@given(viewers, st.none() | components, member_sets)
def test_unspecified_behaves_as_owner(viewer, owner, members):
    def rule(v: Visibility) -> bool:
        return may_see(v, viewer=viewer, owner=owner, members=members)

    assert rule(Visibility.UNSPECIFIED) == rule(Visibility.OWNER)
    assert stored_visibility(Visibility.UNSPECIFIED) is Visibility.OWNER


@given(st.text())
def test_a_field_no_rule_names_is_owner_only(name):
    if name not in CORE_FIELDS:
        assert field_visibility(name) is Visibility.OWNER


@given(viewers, member_sets)
def test_a_core_field_without_rule_is_shown_to_nobody(viewer, members):
    # Core fields have no owner component: owner-only there means nobody.
    assert not may_see(Visibility.OWNER, viewer=viewer, owner=None, members=members)


@given(contacts(), viewers)
def test_the_view_holds_exactly_the_fields_the_rules_allow(contact, viewer):
    view = view_of(contact, viewer)
    for name in view.fields:
        assert may_see(field_visibility(name), viewer=viewer, owner=None, members=contact.members)
    for name, visibility in CORE_FIELDS.items():
        if name in view.fields or name == "member_components":
            continue
        allowed = may_see(visibility, viewer=viewer, owner=None, members=contact.members)
        value = display_name(contact) if name == "display_name" else getattr(contact, name)
        if name == "kind":
            value = contact.kind.value
        assert not (allowed and value), f"{name} allowed but missing"


@given(contacts(), viewers)
def test_the_view_holds_exactly_the_attributes_the_rules_allow(contact, viewer):
    view = view_of(contact, viewer)
    allowed = {
        a
        for a in contact.attributes
        if may_see(a.visibility, viewer=viewer, owner=a.owner, members=contact.members)
    }
    assert set(view.attributes) == allowed


@given(contacts(), viewers)
def test_an_owner_only_attribute_reaches_its_owner_alone(contact, viewer):
    view = view_of(contact, viewer)
    for attribute in view.attributes:
        if stored_visibility(attribute.visibility) is Visibility.OWNER:
            assert attribute.owner == viewer


@given(contacts(), components)
def test_a_non_member_sees_grouping_level_core_fields_only(contact, viewer):
    if viewer in contact.members:
        return
    view = view_of(contact, viewer)
    assert set(view.fields) <= {n for n, v in CORE_FIELDS.items() if v is Visibility.GROUPING}


@given(contacts())
def test_a_caller_without_component_sees_grouping_level_only(contact):
    view = view_of(contact, None)
    assert set(view.fields) <= {n for n, v in CORE_FIELDS.items() if v is Visibility.GROUPING}
    assert all(a.visibility is Visibility.GROUPING for a in view.attributes)


@given(contacts(), viewers)
def test_member_components_follow_their_rule(contact, viewer):
    assert view_of(contact, viewer).member_components == tuple(sorted(contact.members))


@given(contacts(), viewers)
def test_merge_fields_are_a_subset_of_the_view(contact, viewer):
    view = view_of(contact, viewer)
    for name, value in merge_fields(view, viewer).items():
        if name.startswith("attr."):
            key = name.removeprefix("attr.")
            assert any(a.key == key and a.value == value for a in view.attributes)
        else:
            assert name in MERGE_CORE_FIELDS and view.fields[name] == value


@given(contacts(), components)
def test_the_viewers_own_attribute_wins_a_merge_key_collision(contact, viewer):
    view = view_of(contact, viewer)
    merged = merge_fields(view, viewer)
    for attribute in view.attributes:
        if attribute.owner == viewer:
            assert merged[f"attr.{attribute.key}"] == attribute.value


@given(contacts(), viewers)
def test_every_owner_only_field_shown_is_audited(contact, viewer):
    view = view_of(contact, viewer)
    expected = sorted(
        f"attr.{a.key}"
        for a in view.attributes
        if a.visibility in (Visibility.OWNER, Visibility.UNSPECIFIED)
    )
    assert sorted(owner_only_fields(view)) == expected


@given(contacts(), components)
def test_resolve_gives_data_only_to_members_with_an_email(contact, component):
    resolution = resolve(contact.id, contact, component)
    if component not in contact.members:
        assert resolution.reachability is Reachability.NOT_MEMBER
    elif not contact.email:
        assert resolution.reachability is Reachability.NO_EMAIL
    else:
        assert resolution.reachability is Reachability.OK
        assert resolution.email == contact.email
        assert resolution.view is not None
        assert dict(resolution.merge_fields) == merge_fields(resolution.view, component)
        return
    assert (resolution.email, resolution.time_zone, dict(resolution.merge_fields)) == ("", "", {})
    assert resolution.view is None


@given(st.uuids().map(str), components)
def test_resolve_reports_unknown_contacts(contact_id, component):
    resolution = resolve(contact_id, None, component)
    assert resolution.reachability is Reachability.NOT_FOUND
    assert not resolution.merge_fields and not resolution.email


def test_display_name_of_a_person_is_first_name_and_initial():
    person = Contact("1", Kind.PERSON, first_name="Marie", last_name="Dupont")
    assert display_name(person) == "Marie D."
    assert display_name(Contact("2", Kind.PERSON, first_name="Marie")) == "Marie"
    assert display_name(Contact("3", Kind.PERSON, email="x@y.fr")) is None


def test_display_name_of_a_company_is_its_organisation():
    company = Contact("1", Kind.COMPANY, organisation="Airbus", first_name="Jean")
    assert display_name(company) == "Airbus"
