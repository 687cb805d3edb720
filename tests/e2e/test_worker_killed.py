"""A campaigns replica killed (SIGKILL) five times mid-campaign: nobody mailed twice, nobody
forgotten, and each kill leaves at most one group of k recipients in doubt."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.conftest import COMPONENT_A, World
from tests.support.mesh import Mesh
from tests.support.replicas import restart

pytestmark = pytest.mark.e2e
RECIPIENTS = 120
KILLS = 5
K = 4  # CAMPAIGNS_SEND_GROUP_SIZE of the replica that is killed


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A mesh with a slow relay and a short lease, so kills land mid-campaign."""
    mesh = Mesh(
        tmp_path_factory.mktemp("fragile"),
        pressure_max=10,
        batch_size=10,
        lease_seconds=2,
        smtp_delay_seconds=0.1,
    )
    with mesh:
        admin = mesh.keys.admin()
        reply = mesh.api.call("POST", "/v1/components", admin, {"id": COMPONENT_A, "name": "A"})
        assert reply.status == 201, reply.text
        manager = mesh.keys.manager(COMPONENT_A)
        yield World(mesh, mesh.api, admin, manager, manager)


def test_a_replica_killed_five_times_leaves_everyone_one_outcome_and_one_mail(
    fragile: World,
) -> None:
    mesh, inbox = fragile.mesh, fragile.mesh.inbox
    contacts = [fragile.new_contact(fragile.a) for _ in range(RECIPIENTS)]
    for contact in contacts:
        fragile.grant(fragile.a, contact["id"])
    with ExitStack() as stack:
        # One dispatching thread in the mesh, the victim's, so the campaign outlasts its
        # kills; the first replica keeps serving the gateway's calls and dispatches nothing.
        restart(mesh, "campaigns", stack, {"CAMPAIGNS_DISPATCH_THREADS": "0"}, kill=False)
        victim_env = {"CAMPAIGNS_DISPATCH_THREADS": "1", "CAMPAIGNS_SEND_GROUP_SIZE": str(K)}
        restart(mesh, "campaigns2", stack, victim_env, kill=False)

        campaign = fragile.campaign(fragile.a, [c["id"] for c in contacts])
        reply = fragile.api.call("POST", f"/v1/campaigns/{campaign['id']}/send", fragile.a, {})
        assert reply.status == 202, reply.text
        seen = 0
        for _ in range(KILLS):
            deadline = time.monotonic() + 60
            while inbox.count() < seen + 12:  # some groups went out since the last kill
                assert time.monotonic() < deadline, "dispatch stalled"
                time.sleep(0.01)
            restart(mesh, "campaigns2", stack, victim_env)  # SIGKILL, then a new process
            seen = inbox.count()
            assert seen < RECIPIENTS, "the campaign ended before the kills: nothing was tested"

        done = mesh.wait_done(fragile.a, campaign["id"], timeout=180)

    assert sum(done["outcome_counts"].values()) == RECIPIENTS
    received = Counter(rcpt for rcpts, _ in inbox.messages for rcpt in rcpts)
    assert all(count == 1 for count in received.values())  # never twice
    engine = create_engine(mesh.database_urls["campaigns"])
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT contact_id, outcome, rule, send_started_at FROM deliveries"
                " WHERE campaign_id = :c"
            ),
            {"c": campaign["id"]},
        ).all()
    engine.dispose()
    address = {c["id"]: c["email"] for c in contacts}
    assert len(rows) == RECIPIENTS
    in_doubt: Counter[object] = Counter()
    for contact_id, outcome, rule, started in rows:
        if outcome == "unconfirmed":
            # A killed worker's group in flight: it may or may not have left, never resent.
            assert rule == "smtp:worker_lost"
            assert received[address[contact_id]] <= 1
            in_doubt[started] += 1  # a group's marks share one commit, one time
        else:
            assert outcome == "sent"  # never lost: nobody left pending or dropped
            assert received[address[contact_id]] == 1
    assert len(in_doubt) <= KILLS  # at most one group in doubt per kill...
    assert all(count <= K for count in in_doubt.values())  # ...of at most k recipients
