"""A contact's pressure status: what the counters the send decision reads say, for its readers."""

from __future__ import annotations

import pytest

from meshkit.errors import NotFound
from meshkit.identity import Principal
from services.campaigns.pressure_policy import BudgetRule, PressurePolicy, Scope
from services.campaigns.pressure_status import PressureStatus
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.test_dispatch import (  # noqa: F401  (fixtures)
    SCIENCES,
    World,
    backend,
    manager,
    smtp,
    world,
)

ADMIN = Principal("admin@grouping", roles=frozenset({"admin"}))
DPO = Principal("dpo@grouping", roles=frozenset({"dpo"}))
DAY = 86_400


def put_policy(world: World, *rules: BudgetRule, gap: int = 0) -> PressurePolicy:  # noqa: F811
    store = world.campaigns.policy_store
    assert store is not None
    latest = store.latest_version().policy.version
    policy = PressurePolicy(version=0, rules=rules, min_gap_seconds=gap)
    return store.put_version(ADMIN, policy, latest, "test").policy


def status_of(world: World) -> PressureStatus:  # noqa: F811
    status = world.campaigns.pressure_status
    assert status is not None
    return status


def test_the_status_after_n_sends_equals_the_counters(world: World) -> None:  # noqa: F811
    put_policy(
        world,
        BudgetRule("weekly", Scope.GROUPING, "", 5, 7 * DAY),
        BudgetRule("lettres-daily", Scope.COMPONENT, "lettres", 2, DAY),
        BudgetRule("sciences-daily", Scope.COMPONENT, "sciences", 2, DAY),
    )
    person = world.person("sciences", "lettres")
    for _ in range(2):
        world.send([person])
        world.drain()
    logged = world.campaigns.pressure.slots([person])
    assert len(logged) == 2  # the two mails hold their slots in Redis

    found = status_of(world).status(SCIENCES, person)
    by_id = {r.rule.id: r for r in found.rules}
    assert [r.rule.id for r in found.rules] == ["weekly", "lettres-daily", "sciences-daily"]
    assert (by_id["weekly"].used, by_id["weekly"].free) == (2, 3)
    assert by_id["weekly"].next_free_at is None
    assert (by_id["lettres-daily"].used, by_id["lettres-daily"].free) == (0, 2)
    full = by_id["sciences-daily"]
    assert (full.used, full.free) == (2, 0)
    first = min(slot.at_ms for slot in logged)
    assert full.next_free_at is not None
    assert int(full.next_free_at.timestamp() * 1000) == first + DAY * 1000
    # Sciences' next mail waits for its daily rule; lettres' may leave now.
    assert found.deciding_rule == "pressure:sciences-daily:2/86400s"
    assert found.next_allowed_at == full.next_free_at
    as_lettres = status_of(world).status(manager("lettres"), person)
    assert as_lettres.deciding_rule == ""
    assert as_lettres.next_allowed_at == as_lettres.as_of


def test_the_minimum_gap_is_reported(world: World) -> None:  # noqa: F811
    put_policy(world, BudgetRule("weekly", Scope.GROUPING, "", 5, 7 * DAY), gap=3600)
    person = world.person("sciences")
    world.send([person])
    world.drain()
    found = status_of(world).status(SCIENCES, person)
    assert found.rules[0].used == 1
    assert found.last_counted_at is not None and found.gap_until is not None
    assert (found.gap_until - found.last_counted_at).total_seconds() == 3600
    assert found.deciding_rule == "pressure:min_gap:3600s"
    assert found.next_allowed_at == found.gap_until


def test_only_readers_of_the_history_see_the_status(world: World) -> None:  # noqa: F811
    put_policy(world, BudgetRule("weekly", Scope.GROUPING, "", 3, 7 * DAY))
    person = world.person("sciences")
    world.send([person])
    world.drain()
    with pytest.raises(NotFound):
        status_of(world).status(manager("lettres"), person)
    with pytest.raises(NotFound):
        status_of(world).status(SCIENCES, "no-such-contact")
    for reader in (ADMIN, DPO, SCIENCES):
        assert status_of(world).status(reader, person).rules[0].used == 1


def test_a_status_rebuilds_nothing_when_redis_lost_the_log(world: World) -> None:  # noqa: F811
    put_policy(world, BudgetRule("weekly", Scope.GROUPING, "", 3, 7 * DAY))
    person = world.person("sciences")
    world.send([person])
    world.drain()
    delete_keys(world.redis, world.prefix)
    found = status_of(world).status(SCIENCES, person)
    assert found.rules[0].used == 1  # read from the ledger
    assert list(world.redis.scan_iter(match=f"{world.prefix}*")) == []  # nothing written
