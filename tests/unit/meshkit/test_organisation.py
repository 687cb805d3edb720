"""The organisation client: the tree decides, unknown names refused, a cache refreshed once."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from meshkit.errors import PermissionDenied, Unavailable
from meshkit.identity import Principal
from meshkit.organisation import Organisation, Person, Tree

TREE = Tree(
    components=frozenset({"sciences"}),
    services=frozenset({("sciences", "alumni")}),
    levels=("agent", "manager"),
    people=MappingProxyType(
        {"bob": Person("bob", "sciences", "alumni", "manager", frozenset({"admin"}))}
    ),
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_tree_is_authoritative_for_its_people() -> None:
    token = Principal("bob", component="elsewhere", roles=frozenset({"viewer"}))
    assert TREE.effective(token) == Principal(
        "bob", "sciences", "alumni", "manager", frozenset({"admin"})
    )


@pytest.mark.parametrize(
    "claims",
    [{"component": "x"}, {"component": "sciences", "service": "x"}, {"level": "x"}],
)
def test_unknown_names_are_refused_but_service_tokens_are_exempt(claims: dict[str, str]) -> None:
    with pytest.raises(PermissionDenied):
        TREE.effective(Principal("eve", **claims))  # type: ignore[arg-type]
    service = Principal("service:x", roles=frozenset({"service"}), **claims)  # type: ignore[arg-type]
    assert TREE.effective(service) == service


def test_the_cache_is_refreshed_on_an_unknown_name_then_on_expiry() -> None:
    trees = [Tree(components=frozenset({"a"})), Tree(components=frozenset({"a", "b"}))]
    fetched: list[Tree] = []

    def fetch() -> Tree:
        fetched.append(trees[min(len(fetched), 1)])
        return fetched[-1]

    clock = Clock()
    organisation = Organisation(fetch, ttl_seconds=5, clock=clock)
    organisation.effective(Principal("x", component="a"))
    organisation.effective(Principal("x", component="a"))
    assert len(fetched) == 1
    organisation.effective(Principal("x", component="b"))  # unknown: fetched again, then known
    assert len(fetched) == 2
    clock.now = 10
    organisation.effective(Principal("x", component="a"))
    assert len(fetched) == 3


def test_a_fetch_failure_uses_the_last_tree_or_refuses_as_unavailable() -> None:
    def broken() -> Tree:
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        Organisation(broken).effective(Principal("x", component="a"))
    calls = iter([Tree(components=frozenset({"a"}))])

    def once() -> Tree:
        tree = next(calls, None)
        if tree is None:
            raise Unavailable("down")
        return tree

    clock = Clock()
    organisation = Organisation(once, ttl_seconds=1, clock=clock)
    organisation.effective(Principal("x", component="a"))
    clock.now = 5
    assert organisation.effective(Principal("x", component="a")).component == "a"


def test_only_the_tree_check_places_a_principal_never_a_token() -> None:
    """A placed principal skips a second tree read in the same request: no token may claim it."""
    from meshkit.identity import principal_from_claims

    forged = principal_from_claims({"sub": "eve", "component": "elsewhere", "placed": True})
    assert not forged.placed
    with pytest.raises(PermissionDenied):
        TREE.effective(forged)
    assert TREE.effective(Principal("carol", component="sciences")).placed
    assert TREE.effective(Principal("bob")).placed
