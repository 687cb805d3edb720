"""The aggregate right: `aggregate_scope` agrees with `may_aggregate` value by value, and
aggregating is implied by reading, never the other way round."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.contacts.policy import (
    Audience,
    FieldPolicy,
    Grant,
    Rules,
    Viewer,
    aggregate_scope,
    may_aggregate,
    may_read,
    read_scope,
)

COMPONENTS = ("aa", "bb", "cc")
LEVELS = ("agent", "manager", "director")
FIELDS = ("first_name", "aa.budget", "bb.score")

grants = st.builds(
    Grant,
    st.sampled_from(list(Audience)),
    st.frozensets(st.sampled_from(COMPONENTS), max_size=2),
    st.sampled_from([None, None, "s1"]),
    st.sampled_from([None, None, *LEVELS]),
    st.sampled_from([None, None, None, "u1"]),
)
grant_lists = st.lists(grants, max_size=3).map(tuple)
policies = st.dictionaries(
    st.sampled_from(FIELDS),
    st.builds(lambda r, a: (r, a), grant_lists, grant_lists),
    max_size=3,
)
viewers = st.builds(
    Viewer,
    st.sampled_from(["u1", "u2"]),
    st.sampled_from([*COMPONENTS, None]),
    st.sampled_from([None, "s1", "s2"]),
    st.sampled_from([None, *LEVELS]),
).map(lambda v: v if v.component else Viewer(v.subject, None, None, v.level))


def _rules(drawn: dict[str, tuple[tuple[Grant, ...], tuple[Grant, ...]]]) -> Rules:
    return Rules({f: FieldPolicy(f, read=r, aggregate=a) for f, (r, a) in drawn.items()}, LEVELS)


@settings(max_examples=500, deadline=None)
@given(policies, viewers, st.sampled_from(FIELDS), st.frozensets(st.sampled_from(COMPONENTS)))
def test_aggregate_scope_agrees_with_may_aggregate(drawn, viewer, field, members) -> None:  # type: ignore[no-untyped-def]
    rules = _rules(drawn)
    scope = aggregate_scope(rules, viewer, field)
    holder = field.split(".")[0] if "." in field else None
    for owner in COMPONENTS:
        if holder is not None and owner != holder:
            continue  # only its component holds an attribute
        allowed = may_aggregate(rules, viewer, field, owner, members)
        assert scope.admits(owner, members) == allowed
        # whoever may read a value may aggregate it
        if may_read(rules, viewer, field, owner, members):
            assert allowed
    if scope.nothing:
        assert not any(
            may_aggregate(rules, viewer, field, owner, frozenset(COMPONENTS))
            for owner in ([holder] if holder else COMPONENTS)
        )
    # the read scope is never wider than the aggregate scope
    read = read_scope(rules, viewer, field)
    assert not (read.everyone and not scope.everyone)
    assert not (read.own and not (scope.own or scope.everyone))
    assert not (read.as_member and not (scope.as_member or scope.everyone))


def test_the_grouping_may_aggregate_what_only_the_beneficiary_reads() -> None:
    field = "sciences.taxe_apprentissage"
    rules = Rules(
        {
            field: FieldPolicy(
                field,
                read=(Grant(Audience.OWNER),),
                aggregate=(Grant(Audience.GROUPING),),
            )
        }
    )
    droit = Viewer("marie", "droit")
    members = frozenset({"sciences", "droit"})
    assert may_aggregate(rules, droit, field, "sciences", members)
    assert not may_read(rules, droit, field, "sciences", members)
    assert aggregate_scope(rules, droit, field).everyone
    assert read_scope(rules, droit, field).nothing


def test_no_policy_aggregates_nothing_beyond_the_owner() -> None:
    rules = Rules()
    assert aggregate_scope(rules, Viewer("x", "droit"), "sciences.budget").nothing
    own = aggregate_scope(rules, Viewer("x", "sciences"), "sciences.budget")
    assert own.own and not own.everyone and not own.as_member
