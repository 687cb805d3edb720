"""Simulating a pressure policy on a campaign: stricter rules defer more, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from meshkit.errors import InvalidArgument, NotFound, PermissionDenied
from services.campaigns.pressure_policy import BudgetRule, PressurePolicy, Scope
from services.campaigns.pressure_status import PressureSimulations
from services.campaigns.validation import Audience, AudienceKind, Draft
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.test_dispatch import (  # noqa: F401  (fixtures)
    SCIENCES,
    World,
    backend,
    manager,
    smtp,
    world,
)
from tests.integration.campaigns.test_pressure_status import ADMIN, DAY, DPO, put_policy

WEEKLY_3 = BudgetRule("weekly", Scope.GROUPING, "", 3, 7 * DAY)
WEEKLY_1 = BudgetRule("weekly", Scope.GROUPING, "", 1, 7 * DAY)


def simulations(world: World) -> PressureSimulations:  # noqa: F811
    found = world.campaigns.simulations
    assert found is not None
    return found


def draft_for(world: World, contact_ids: list[str]) -> str:  # noqa: F811
    draft = Draft(
        name="news",
        purpose="newsletter",
        subject_template="Bonjour {{ first_name }}",
        body_template="Bonjour.",
        audience=Audience(AudienceKind.CONTACT_IDS, tuple(contact_ids)),
    )
    return world.campaigns.service.create(SCIENCES, draft).id


def redis_state(world: World) -> dict[str, Any]:  # noqa: F811
    """Every key of the test's prefix with its value (logs with their scores)."""
    state: dict[str, Any] = {}
    for key in world.redis.scan_iter(match=f"{world.prefix}*"):
        kind = world.redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "zset":
            state[key] = world.redis.zrange(key, 0, -1, withscores=True)
        else:
            state[key] = world.redis.get(key)
    return state


def candidate(*rules: BudgetRule, gap: int = 0) -> PressurePolicy:
    return PressurePolicy(version=0, rules=rules, min_gap_seconds=gap)


def test_a_stricter_rule_defers_more_and_equal_rules_agree_with_the_preview(
    world: World,  # noqa: F811
) -> None:
    current = put_policy(world, WEEKLY_3)
    mailed = [world.person("sciences"), world.person("sciences")]
    world.send(mailed)
    world.drain()  # one mail each: 1 of 3 weekly slots used
    fresh = world.person("sciences")
    silent = world.person("sciences", consent="none")
    campaign_id = draft_for(world, [*mailed, fresh, silent])

    same = simulations(world).simulate(ADMIN, campaign_id, current)
    assert same.audience == 4
    assert same.current == same.candidate
    assert (same.current.would_send, same.current.deferred, same.current.not_reached) == (3, 0, 1)
    previews = world.campaigns.previews
    assert previews is not None
    counts = previews.preview(SCIENCES, campaign_id, 10, "").counts
    assert counts == {"sent": same.current.would_send, "no_consent": same.current.not_reached}

    strict = simulations(world).simulate(ADMIN, campaign_id, candidate(WEEKLY_1))
    assert strict.current == same.current  # the policy in force, for comparison
    assert strict.current_version == current.version
    assert (strict.candidate.would_send, strict.candidate.deferred) == (1, 2)
    assert dict(strict.candidate.deferred_by_rule) == {"pressure:weekly:1/604800s": 2}

    gap = simulations(world).simulate(ADMIN, campaign_id, candidate(WEEKLY_3, gap=3600))
    assert dict(gap.candidate.deferred_by_rule) == {"pressure:min_gap:3600s": 2}


def test_with_the_policy_in_force_it_agrees_with_the_real_send(world: World) -> None:  # noqa: F811
    current = put_policy(world, WEEKLY_1)
    mailed = world.person("sciences")
    world.send([mailed])
    world.drain()
    people = [mailed, world.person("sciences"), world.person("sciences", consent="withdrawn")]
    campaign_id = draft_for(world, people)
    result = simulations(world).simulate(ADMIN, campaign_id, current)
    assert (result.current.would_send, result.current.deferred) == (1, 1)
    world.campaigns.service.send_now(SCIENCES, campaign_id)
    world.drain()
    outcomes = [outcome for outcome, _ in world.outcomes(campaign_id).values()]
    assert outcomes.count("sent") == result.current.would_send
    assert outcomes.count("deferred") == result.current.deferred
    assert len(outcomes) - outcomes.count("sent") - outcomes.count("deferred") == (
        result.current.not_reached
    )


def test_a_simulation_writes_nothing(world: World) -> None:  # noqa: F811
    put_policy(world, WEEKLY_3)
    mailed = world.person("sciences")
    world.send([mailed])
    world.drain()
    fresh = world.person("sciences")
    campaign_id = draft_for(world, [mailed, fresh])
    before = redis_state(world)
    assert before  # the mailed contact's log and marker
    result = simulations(world).simulate(ADMIN, campaign_id, candidate(WEEKLY_1))
    assert result.candidate.deferred == 1
    assert redis_state(world) == before
    assert world.ledger(campaign_id) == {}
    assert world.status(campaign_id) == "draft"
    # With the counters lost, it reads the ledger and still rebuilds nothing.
    delete_keys(world.redis, world.prefix)
    again = simulations(world).simulate(ADMIN, campaign_id, candidate(WEEKLY_1))
    assert again.candidate == result.candidate
    assert redis_state(world) == {}


def test_only_an_admin_simulates_and_an_unknown_campaign_is_not_found(
    world: World,  # noqa: F811
) -> None:
    put_policy(world, WEEKLY_3)
    campaign_id = draft_for(world, [world.person("sciences")])
    for who in (SCIENCES, manager("lettres"), DPO):
        with pytest.raises(PermissionDenied):
            simulations(world).simulate(who, campaign_id, candidate(WEEKLY_1))
    with pytest.raises(NotFound):
        simulations(world).simulate(
            ADMIN, "00000000-0000-4000-8000-000000000000", candidate(WEEKLY_1)
        )
    with pytest.raises(InvalidArgument) as refused:
        bad = BudgetRule("weekly", Scope.GROUPING, "", 0, 7 * DAY)
        simulations(world).simulate(ADMIN, campaign_id, candidate(bad))
    assert [v.field for v in refused.value.violations] == ["rules[0].max_messages"]
