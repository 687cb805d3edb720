"""The field policy, for all inputs: it agrees with a naive reference and never leaks.

The reference below is written independently of services.contacts.policy: a
grant is turned into the list of its conditions, each a plain predicate, and a
viewer is allowed when every condition of some grant holds.
"""

from __future__ import annotations

from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from services.contacts.policy import (
    Audience,
    Contact,
    FieldPolicy,
    Grant,
    Kind,
    Reachability,
    Rules,
    Value,
    Viewer,
    may_read,
    may_write,
    refused_writes,
    resolve,
    view_of,
)

COMPONENTS = ("sciences", "lettres", "droit", "medecine")
SERVICES = ("alumni", "relations", "communication")
LEVELS = ("agent", "manager", "director")
SUBJECTS = ("alice", "bob", "carol")
FIELDS = ("first_name", "phone", "email", "sciences.taxe", "lettres.don", "job_title")

components = st.sampled_from(COMPONENTS)
maybe = st.none() | st.just(None)


@st.composite
def grants(draw: st.DrawFn) -> Grant:
    audience = draw(st.sampled_from(list(Audience)))
    return Grant(
        audience,
        frozenset(draw(st.sets(components, max_size=2)))
        if audience is Audience.COMPONENTS
        else frozenset(),
        draw(st.none() | st.sampled_from(SERVICES)),
        draw(st.none() | st.sampled_from((*LEVELS, "unknown-level"))),
        draw(st.none() | st.sampled_from(SUBJECTS)),
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> Rules:
    named = draw(st.sets(st.sampled_from(FIELDS)))
    policies = {
        name: FieldPolicy(
            name,
            tuple(draw(st.lists(grants(), max_size=3))),
            tuple(draw(st.lists(grants(), max_size=3))),
        )
        for name in named
    }
    return Rules(MappingProxyType(policies), LEVELS)


viewers = st.builds(
    Viewer,
    subject=st.sampled_from(SUBJECTS),
    component=st.none() | components,
    service=st.none() | st.sampled_from(SERVICES),
    level=st.none() | st.sampled_from((*LEVELS, "stranger")),
)


@st.composite
def contacts(draw: st.DrawFn) -> Contact:
    members = frozenset(draw(st.sets(components, min_size=1)))
    values = []
    for name in draw(st.sets(st.sampled_from(FIELDS))):
        owners = {name.split(".")[0]} if "." in name else draw(st.sets(components, max_size=3))
        values += [Value(name, owner, f"{name}-of-{owner}") for owner in owners]
    return Contact("c-1", draw(st.sampled_from(list(Kind))), members, tuple(values))


# --- The naive reference ----------------------------------------------------------------


def reference_allows(
    grants_: tuple[Grant, ...], viewer: Viewer, owner: str, members: frozenset[str]
) -> bool:
    def conditions(g: Grant) -> list[bool]:
        rank = {name: i for i, name in enumerate(LEVELS)}
        audience_holds = {
            Audience.GROUPING: True,
            Audience.OWNER: viewer.component is not None and viewer.component == owner,
            Audience.MEMBERS: viewer.component is not None and viewer.component in members,
            Audience.COMPONENTS: viewer.component is not None and viewer.component in g.components,
        }[g.audience]
        return [
            audience_holds,
            g.service is None or viewer.service == g.service,
            g.subject is None or viewer.subject == g.subject,
            g.min_level is None
            or (
                viewer.level in rank
                and g.min_level in rank
                and rank[viewer.level] >= rank[g.min_level]
            ),
        ]

    return any(all(conditions(g)) for g in grants_)


def reference_read(rules: Rules, viewer: Viewer, name: str, owner: str, members: frozenset[str]):
    policy = rules.policies.get(name)
    grants_ = policy.read if policy else (Grant(Audience.OWNER),)
    return reference_allows(grants_, viewer, owner, members)


def reference_write(rules: Rules, viewer: Viewer, name: str, owner: str, members: frozenset[str]):
    if "." in name and name.split(".")[0] != owner:
        return False
    policy = rules.policies.get(name)
    grants_ = policy.write if policy else (Grant(Audience.OWNER),)
    return reference_allows(grants_, viewer, owner, members)


# --- Properties ---------------------------------------------------------------------------


@settings(max_examples=400)
@given(rule_sets(), viewers, st.sampled_from(FIELDS), components, st.sets(components))
def test_read_decision_agrees_with_the_reference(rules, viewer, name, owner, members) -> None:
    members = frozenset(members)
    expected = reference_read(rules, viewer, name, owner, members)
    assert may_read(rules, viewer, name, owner, members) == expected


@settings(max_examples=400)
@given(rule_sets(), viewers, st.sampled_from(FIELDS), components, st.sets(components))
def test_write_decision_agrees_with_the_reference(rules, viewer, name, owner, members) -> None:
    members = frozenset(members)
    expected = reference_write(rules, viewer, name, owner, members)
    assert may_write(rules, viewer, name, owner, members) == expected


@settings(max_examples=300)
@given(rule_sets(), viewers, contacts())
def test_a_view_holds_only_readable_values_and_every_readable_field(rules, viewer, contact):
    view = view_of(contact, viewer, rules)
    for name, value in view.fields.items():
        if name == "display_name":
            continue
        assert value in contact.values
        assert reference_read(rules, viewer, name, value.owner, contact.members)
    readable = {
        v.field
        for v in contact.values
        if reference_read(rules, viewer, v.field, v.owner, contact.members)
    }
    assert readable == set(view.fields) - {"display_name"}


@settings(max_examples=300)
@given(rule_sets(), viewers, contacts())
def test_the_viewers_own_value_is_shown_when_it_has_one(rules, viewer, contact):
    view = view_of(contact, viewer, rules)
    for name, value in view.fields.items():
        own = Value(name, viewer.component or "", f"{name}-of-{viewer.component}")
        if own in contact.values and reference_read(
            rules, viewer, name, own.owner, contact.members
        ):
            assert value == own


@settings(max_examples=300)
@given(rule_sets(), viewers, st.lists(st.sampled_from(FIELDS), max_size=4), st.sets(components))
def test_a_write_is_refused_exactly_for_the_unwritable_fields(rules, viewer, names, members):
    members = frozenset(members)
    refused = refused_writes(rules, viewer, names, members)
    for name in names:
        owner = name.split(".")[0] if "." in name else viewer.component
        allowed = owner is not None and reference_write(rules, viewer, name, owner, members)
        assert (name in refused) == (not allowed)


@settings(max_examples=300)
@given(viewers, contacts())
def test_deny_by_default_only_the_owner_component_reads_a_field_no_policy_names(viewer, contact):
    view = view_of(contact, viewer, Rules())
    # The display name too: built from one owner's names, it is that owner's.
    assert all(v.owner == viewer.component for v in view.fields.values())


@settings(max_examples=300)
@given(rule_sets(), contacts(), components, st.lists(st.sampled_from(FIELDS), max_size=4))
def test_joining_reveals_nothing_that_a_grant_does_not_name(rules, contact, joiner, wanted):
    """A component that joins sees only what it brought plus what policy shares without MEMBERS."""
    without_members = Rules(
        MappingProxyType(
            {
                name: FieldPolicy(
                    name, tuple(g for g in p.read if g.audience is not Audience.MEMBERS), p.write
                )
                for name, p in rules.policies.items()
            }
        ),
        rules.levels,
    )
    viewer = Viewer("joiner", joiner)
    before = view_of(contact, viewer, without_members)
    joined = Contact(contact.id, contact.kind, contact.members | {joiner}, contact.values)
    after = view_of(joined, viewer, without_members)
    assert {n: v for n, v in after.fields.items() if n != "display_name"} == {
        n: v for n, v in before.fields.items() if n != "display_name"
    }


@settings(max_examples=200)
@given(rule_sets(), contacts(), components, st.lists(st.sampled_from(FIELDS), max_size=4))
def test_resolve_merges_only_readable_values_and_hides_whether_an_id_exists(
    rules, contact, component, wanted
):
    resolution = resolve(contact.id, contact, component, wanted, rules)
    unknown = resolve(contact.id, None, component, wanted, rules)
    assert unknown.reachability is Reachability.NOT_MEMBER
    if component not in contact.members:
        assert resolution == unknown
        return
    viewer = Viewer(f"component:{component}", component)
    for name, value in resolution.merge_fields.items():
        assert name in wanted
        assert any(
            v.field == name
            and v.value == value
            and reference_read(rules, viewer, name, v.owner, contact.members)
            for v in contact.values
        )


def test_a_level_restricted_grant_admits_that_level_and_above_only() -> None:
    rules = Rules(
        MappingProxyType(
            {
                "sciences.taxe": FieldPolicy(
                    "sciences.taxe",
                    (Grant(Audience.OWNER, service="relations", min_level="manager"),),
                )
            }
        ),
        LEVELS,
    )
    members = frozenset({"sciences"})

    def reads(service: str, level: str) -> bool:
        viewer = Viewer("x", "sciences", service, level)
        return may_read(rules, viewer, "sciences.taxe", "sciences", members)

    assert reads("relations", "director") and reads("relations", "manager")
    assert not reads("relations", "agent")
    assert not reads("alumni", "director")


def _mailable(kind: Kind, *values: tuple[str, str]) -> Contact:
    return Contact(
        "c-1",
        kind,
        frozenset({"sciences"}),
        tuple(Value(name, "sciences", value) for name, value in values),
    )


def test_a_professional_address_is_the_work_email_of_a_company_or_of_its_people() -> None:
    def professional(contact: Contact) -> bool:
        resolution = resolve(contact.id, contact, "sciences", (), Rules())
        assert resolution.reachability is Reachability.OK
        return resolution.professional_address

    work = ("email", "a@firm.example")
    private = ("private_email", "a@home.example")
    company = ("company_id", "0b6c7f7e-5d1a-4f0e-9a53-2f6f3c1d8e42")
    assert professional(_mailable(Kind.COMPANY, work))
    assert professional(_mailable(Kind.PERSON, work, company))
    assert not professional(_mailable(Kind.PERSON, work))
    assert not professional(_mailable(Kind.PERSON, private, company))
