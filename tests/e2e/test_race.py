"""Two campaigns of two components released at the same moment, cap of one: one mail each."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e


def test_concurrent_campaigns_never_exceed_the_cap(world: World) -> None:
    contacts = [world.new_contact(world.a) for _ in range(40)]
    for contact in contacts:
        world.new_contact(world.b, email=contact["email"])
        world.grant(world.a, contact["id"])
        world.grant(world.b, contact["id"])
    ids = [c["id"] for c in contacts]
    first = world.campaign(world.a, ids, name="A")
    second = world.campaign(world.b, ids, name="B")
    before = world.mesh.inbox.count()

    with ThreadPoolExecutor(2) as pool:
        replies = list(
            pool.map(
                lambda job: world.api.call("POST", f"/v1/campaigns/{job[1]}/send", job[0], {}),
                [(world.a, first["id"]), (world.b, second["id"])],
            )
        )
    assert [r.status for r in replies] == [202, 202]
    world.mesh.wait_settled(world.a, first["id"])
    world.mesh.wait_settled(world.b, second["id"])

    received = Counter(rcpt for rcpts, _ in world.mesh.inbox.messages[before:] for rcpt in rcpts)
    assert received == Counter({c["email"]: 1 for c in contacts})
    outcomes = Counter(world.outcomes(world.a, first["id"]).values()) + Counter(
        world.outcomes(world.b, second["id"]).values()
    )
    assert outcomes == Counter({"sent": 40, "deferred": 40})
