"""The claims mapping: rules that hold for every group list and every role list."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meshkit.claims import (
    USER_ROLES,
    ClaimsError,
    ClaimsMapping,
    map_claims,
    mesh_roles,
    parse_group,
    placement,
)
from meshkit.roles import Role

segment = st.text(st.characters(blacklist_characters="/", blacklist_categories=["Cs"]), min_size=1)
place = st.tuples(segment, st.none() | segment)
role_names = st.lists(st.sampled_from([r.value for r in Role]) | st.text(max_size=12))


def path(prefix: str, where: tuple[str, str | None]) -> str:
    component, service = where
    return prefix + component + (f"/{service}" if service else "")


@settings(deadline=None)  # no wall-clock limit: the machine may be busy
@given(where=place, others=st.lists(segment.map(lambda s: "/other/" + s)), prefix=st.just("/crm/"))
def test_the_only_group_under_the_prefix_places_the_caller(
    where: tuple[str, str | None], others: list[str], prefix: str
) -> None:
    groups = [*others, path(prefix, where)]
    assert placement(groups, prefix, None) == where
    assert placement(list(reversed(groups)), prefix, None) == where


@settings(deadline=None)  # no wall-clock limit: the machine may be busy
@given(places=st.lists(place, min_size=2, unique=True))
def test_several_places_without_a_preferred_component_are_refused(
    places: list[tuple[str, str | None]],
) -> None:
    with pytest.raises(ClaimsError):
        placement([path("/", p) for p in places], "/", None)


@settings(deadline=None)  # no wall-clock limit: the machine may be busy
@given(chosen=place, others=st.lists(place))
def test_a_preferred_component_with_one_group_settles_it(
    chosen: tuple[str, str | None], others: list[tuple[str, str | None]]
) -> None:
    rest = [p for p in others if p[0] != chosen[0]]
    groups = [path("/", p) for p in [*rest, chosen]]
    assert placement(groups, "/", chosen[0]) == chosen


@settings(deadline=None)  # no wall-clock limit: the machine may be busy
@given(places=st.lists(place), name=segment)
def test_a_preferred_component_outside_the_groups_is_refused(
    places: list[tuple[str, str | None]], name: str
) -> None:
    assume(all(component != name for component, _ in places))
    with pytest.raises(ClaimsError):
        placement([path("/", p) for p in places], "/", name)


@settings(deadline=None)  # no wall-clock limit: the machine may be busy
@given(names=role_names, renames=st.dictionaries(st.text(max_size=12), st.text(max_size=12)))
def test_roles_are_only_mesh_roles_and_every_named_one_is_kept(
    names: list[str], renames: dict[str, str]
) -> None:
    roles = mesh_roles(names, renames)
    assert roles <= USER_ROLES | {Role.SERVICE.value}
    expected = {renames.get(n, n) for n in names} & (USER_ROLES | {Role.SERVICE.value})
    assert roles == expected


@pytest.mark.parametrize(
    "group",
    ["/", "//", "/a//b", "/a/b/c", "sciences", "/crm"],
)
def test_groups_that_place_nobody(group: str) -> None:
    assert parse_group(group, "/crm/" if group == "/crm" else "/") is None


def test_a_keycloak_token_maps_with_the_defaults() -> None:
    claims: dict[str, Any] = {
        "sub": "f1e2",
        "groups": ["/sciences/relations-entreprises"],
        "realm_access": {"roles": ["campaign_manager", "offline_access", "uma_authorization"]},
        "email": "a@univ.example",
        "level": "manager",
    }
    mapped = map_claims(claims, ClaimsMapping())
    assert (mapped.component, mapped.service, mapped.level) == (
        "sciences",
        "relations-entreprises",
        "manager",
    )
    assert mapped.roles == {"campaign_manager"}
    assert (mapped.subject, mapped.email) == ("f1e2", "a@univ.example")


def test_client_roles_and_renames_are_read_where_configured() -> None:
    mapping = ClaimsMapping(
        role_claims=["resource_access.crm.roles"],
        role_names={"crm-admin": "admin"},
        subject_claim="preferred_username",
        level_claim=None,
    )
    claims = {
        "preferred_username": "alice",
        "realm_access": {"roles": ["dpo"]},  # not read: only the client's roles are
        "resource_access": {"crm": {"roles": ["crm-admin"]}},
        "level": "director",
    }
    mapped = map_claims(claims, mapping)
    assert (mapped.subject, mapped.roles, mapped.level) == ("alice", {"admin"}, None)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"groups": "/sciences"}, "groups must be a list"),
        ({"realm_access": {"roles": "admin"}}, "realm_access.roles must be a list"),
        ({"level": 3}, "level must be a string"),
        ({"sub": ""}, "missing claim sub"),
    ],
)
def test_malformed_claims_are_refused_by_name(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(ClaimsError, match=reason):
        map_claims({"sub": "x", **claims}, ClaimsMapping())


@pytest.mark.parametrize(
    "mapping",
    [{"role_names": {"crm-admin": "superuser"}}, {"role_names": {"x": "service"}}, {"group": "/"}],
)
def test_a_mapping_with_a_typo_or_an_unknown_role_is_refused_at_start(
    mapping: dict[str, Any],
) -> None:
    with pytest.raises(ValueError):
        ClaimsMapping.model_validate(mapping)
