"""Eight dispatch workers in two replicas, four components' campaigns aimed at the same
contacts, three overlapping pressure rules: nobody is ever over any rule, counted at the
SMTP server; and Redis flushed, then restarted empty, mid-campaign changes nothing of it.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import redis_server
from tests.support.mesh import Mesh

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not redis_server.available(), reason="needs a redis-server binary"),
]
COMPONENTS = ("sciences", "medecine", "droit", "lettres")
PEOPLE = 1000
# Three overlapping rules: every mail counts for the grouping and for email; the
# newsletter purpose has its own, tighter, budget; sciences has one of its own.
POLICY = {
    "rules": [
        {"id": "grouping", "scope": "grouping", "scope_value": "", "max_messages": 3,
         "window_seconds": 604800},
        {"id": "newsletter", "scope": "purpose", "scope_value": "newsletter",
         "max_messages": 2, "window_seconds": 604800},
        {"id": "email", "scope": "channel", "scope_value": "email", "max_messages": 3,
         "window_seconds": 86400},
    ],
    "min_gap_seconds": 0,
    "quiet_hours": None,
    "quiet_dates": [],
    "default_time_zone": "Europe/Paris",
}  # fmt: skip
MAX_PER_PERSON = 2  # the tightest rule every one of these campaigns counts against


@pytest.fixture(scope="module")
def raced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, Any]]:
    workdir: Path = tmp_path_factory.mktemp("race")
    (workdir / "redis").mkdir()
    with (
        redis_server.RedisServer(workdir / "redis") as redis,
        Mesh(workdir, batch_size=25, dispatch_threads=4, redis_url=redis.url) as mesh,
    ):
        admin = mesh.keys.admin()
        for component in COMPONENTS:
            body = {"id": component, "name": component.title()}
            reply = mesh.api.call("POST", "/v1/components", admin, body)
            assert reply.status == 201, reply.text
        current = mesh.api.call("GET", "/v1/pressure-policy", admin)
        assert current.status == 200, current.text
        reply = mesh.api.call(
            "PUT",
            "/v1/pressure-policy",
            admin,
            {**POLICY, "note": "race test", "expected_version": current.json["version"]},
        )
        assert reply.status == 200, reply.text
        yield mesh, redis


def companies(mesh: Mesh, tag: str, count: int) -> list[str]:
    """`count` companies (business contacts at their work address: legitimate interest for
    the newsletter), imported by every component; their ids."""
    rows = [["organisation", "email"]] + [
        [f"Entreprise {tag} {i}", f"{tag}{i}@corp.example"] for i in range(count)
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    ids: list[str] = []
    for component in COMPONENTS:
        reply = mesh.api.call(
            "POST",
            f"/v1/contacts/imports?kind=company&import_id={tag}-{component}",
            mesh.keys.manager(component),
            raw=buffer.getvalue().encode(),
            content_type="text/csv",
        )
        assert reply.status == 200, reply.text
        found = [r["contact_id"] for r in reply.json["rows"]]
        assert all(found), reply.json["totals"]
        ids = ids or found
        assert found == ids  # the same people, joined by each component
    return ids


def launch(mesh: Mesh, people: list[str], name: str) -> list[tuple[str, str]]:
    """One campaign per component to everyone, started at once; (token, campaign id)."""
    started: list[tuple[str, str]] = []
    for component in COMPONENTS:
        token = mesh.keys.manager(component)
        body = {
            "name": f"{name} {component}",
            "purpose": "newsletter",
            "subject_template": "Nouvelles",
            "body_template": "Bonjour.",
            "audience": {"contact_ids": people},
        }
        reply = mesh.api.call("POST", "/v1/campaigns", token, body)
        assert reply.status == 201, reply.text
        started.append((token, reply.json["id"]))
    replies: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda t=token, c=cid: replies.append(
                mesh.api.call("POST", f"/v1/campaigns/{c}/send", t, {})
            )
        )
        for token, cid in started
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in replies] == [202] * len(COMPONENTS)
    return started


def settle(mesh: Mesh, campaigns: list[tuple[str, str]]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for token, campaign_id in campaigns:
        counts = mesh.wait_settled(token, campaign_id, timeout=240)["outcome_counts"]
        outcomes.update(counts)
    return outcomes


def mails_per_person(mesh: Mesh, domain_tag: str) -> Counter[str]:
    return Counter(
        rcpt
        for rcpts, _ in mesh.inbox.messages
        for rcpt in rcpts
        if rcpt.startswith(domain_tag) and rcpt.endswith("@corp.example")
    )


def test_eight_workers_four_components_three_rules_nobody_over(raced: tuple[Mesh, Any]) -> None:
    mesh, _ = raced
    people = companies(mesh, "race", PEOPLE)
    campaigns = launch(mesh, people, "Course")
    outcomes = settle(mesh, campaigns)
    received = mails_per_person(mesh, "race")
    assert max(received.values()) == MAX_PER_PERSON  # never more, for anyone
    assert len(received) == PEOPLE and set(received.values()) == {MAX_PER_PERSON}
    assert outcomes == Counter({"sent": PEOPLE * 2, "deferred": PEOPLE * 2})


def test_redis_flushed_then_restarted_mid_campaign_nobody_over(raced: tuple[Mesh, Any]) -> None:
    mesh, redis = raced
    people = companies(mesh, "lost", 400)
    campaigns = launch(mesh, people, "Perte")
    time.sleep(0.5)
    redis.flush()  # every counter and marker gone at once
    time.sleep(0.5)
    redis.restart()  # and the server itself, empty again
    at_restart = sum(mails_per_person(mesh, "lost").values())
    outcomes = settle(mesh, campaigns)
    received = mails_per_person(mesh, "lost")
    assert at_restart < sum(received.values())  # the campaigns were still sending
    assert max(received.values()) <= MAX_PER_PERSON
    assert outcomes["pending"] == 0
    assert outcomes["sent"] + outcomes["unconfirmed"] == sum(received.values())
    assert outcomes["sent"] + outcomes["unconfirmed"] + outcomes["deferred"] == 400 * 4
