"""A campaigns replica killed (SIGKILL) mid-campaign: nobody mailed twice, nobody forgotten."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import COMPONENT_A, World
from tests.support.mesh import Mesh

pytestmark = pytest.mark.e2e
RECIPIENTS = 60


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A mesh with a slow relay, small batches and a short lease, so a kill lands mid-batch."""
    mesh = Mesh(
        tmp_path_factory.mktemp("fragile"),
        pressure_max=10,
        batch_size=5,
        lease_seconds=2,
        smtp_delay_seconds=0.05,
    )
    with mesh:
        admin = mesh.keys.admin()
        reply = mesh.api.call("POST", "/v1/components", admin, {"id": COMPONENT_A, "name": "A"})
        assert reply.status == 201, reply.text
        manager = mesh.keys.manager(COMPONENT_A)
        yield World(mesh, mesh.api, admin, manager, manager)


def test_a_killed_replica_leaves_every_recipient_sent_once_or_picked_up(fragile: World) -> None:
    contacts = [fragile.new_contact(fragile.a) for _ in range(RECIPIENTS)]
    for contact in contacts:
        fragile.grant(fragile.a, contact["id"])
    campaign = fragile.campaign(fragile.a, [c["id"] for c in contacts])
    reply = fragile.api.call("POST", f"/v1/campaigns/{campaign['id']}/send", fragile.a, {})
    assert reply.status == 202, reply.text

    inbox = fragile.mesh.inbox
    deadline = time.monotonic() + 30
    while inbox.count() < RECIPIENTS // 4:  # both replicas are busy sending by now
        assert time.monotonic() < deadline, "dispatch never started"
        time.sleep(0.02)
    victim = fragile.mesh.processes["campaigns2"]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = inbox.count()
    assert killed_at < RECIPIENTS, "the campaign ended before the kill: nothing was tested"

    done = fragile.mesh.wait_done(fragile.a, campaign["id"])
    assert sum(done["outcome_counts"].values()) == RECIPIENTS
    deliveries = fragile.api.call(
        "GET", f"/v1/campaigns/{campaign['id']}/deliveries?page_size=1000", fragile.a
    ).json["deliveries"]
    received = Counter(rcpt for rcpts, _ in inbox.messages for rcpt in rcpts)
    address = {c["id"]: c["email"] for c in contacts}
    assert all(count == 1 for count in received.values())  # never twice
    unconfirmed = [d for d in deliveries if d["outcome"] == "unconfirmed"]
    for delivery in unconfirmed:
        # The killed worker's mail in flight: it may or may not have left, never resent.
        assert delivery["rule"] == "smtp:worker_lost"
    for delivery in deliveries:
        if delivery["outcome"] == "unconfirmed":
            continue
        assert delivery["outcome"] == "sent"  # never lost: nobody left pending or dropped
        assert received[address[delivery["contact_id"]]] == 1
    assert len(unconfirmed) <= 2  # at most one mail in flight per dispatch thread
    assert done["outcome_counts"].get("unconfirmed", 0) == len(unconfirmed)
    assert len(received) >= RECIPIENTS - len(unconfirmed)  # the victim's other rows were resumed
