"""Request id, logs and metrics of the real mesh: what the processes write and serve.

Reads each process's stderr (captured by tests/support/mesh.py) and scrapes each
process's Prometheus endpoint; counters are compared before and after this test's
own requests, so what other tests did earlier in the session does not matter.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e

REPLICAS = ("campaigns", "campaigns2")
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.")


def _samples(world: World, names: tuple[str, ...], metric: str) -> Counter[tuple[Any, ...]]:
    """Sum over the processes `names` of each sample of `metric`, by its sorted labels."""
    total: Counter[tuple[Any, ...]] = Counter()
    for name in names:
        for family in text_string_to_metric_families(world.mesh.scrape(name)):
            for sample in family.samples:
                if sample.name == metric:
                    total[tuple(sorted(sample.labels.items()))] += int(sample.value)
    return total


def _by(samples: Counter[tuple[Any, ...]], label: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for labels, value in samples.items():
        out[dict(labels)[label]] += value
    return out


def _lines_with(world: World, text: str, logger: str) -> list[str]:
    """The log lines of any process holding `text` and written by `logger`, once there."""
    for _ in range(100):  # a line is flushed as written; give the writer a moment
        lines = [
            line
            for line in world.mesh.all_logs().splitlines()
            if text in line and f" {logger}: " in line
        ]
        if lines:
            return lines
        time.sleep(0.1)
    return []


def test_the_request_id_goes_from_the_gateway_into_a_services_log_lines(world: World) -> None:
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    headers = {"X-Request-Id": request_id}
    current = world.api.call("GET", "/v1/pressure-policy", world.admin, headers=headers)
    assert current.status == 200, current.text
    assert current.headers["X-Request-Id"] == request_id
    policy = current.json
    fields = ("rules", "min_gap_seconds", "quiet_hours", "quiet_dates", "default_time_zone")
    body = {key: policy[key] for key in fields if key in policy}
    body |= {"note": "observability test: same policy", "expected_version": policy["version"]}
    # Writing the same policy again: campaigns logs the new version, inside the RPC.
    written = world.api.call("PUT", "/v1/pressure-policy", world.admin, body, headers=headers)
    assert written.status == 200, written.text
    assert written.headers["X-Request-Id"] == request_id

    (line,) = _lines_with(world, request_id, "services.campaigns.policy_store")
    assert " campaigns " in line and "pressure policy version" in line
    access = _lines_with(world, request_id, "services.gateway.access")
    assert [a.split(f"[{request_id}] ")[1].split(" ")[:3] for a in access] == [
        ["GET", "/v1/pressure-policy", "200"],
        ["PUT", "/v1/pressure-policy", "200"],
    ]
    # A problem+json answer carries the id too, and a malformed one is replaced.
    missing = world.api.call("GET", f"/v1/campaigns/{uuid.uuid4()}", world.a, headers=headers)
    assert missing.status == 404 and missing.headers["X-Request-Id"] == request_id
    other = world.api.call("GET", "/healthz", headers={"X-Request-Id": "two words"})
    assert re.fullmatch(r"[0-9a-f]{32}", other.headers["X-Request-Id"])


def test_metrics_count_what_a_mailing_did(world: World) -> None:
    sends = _samples(world, REPLICAS, "crm_campaign_sends_total")
    decisions = _samples(world, REPLICAS, "crm_campaign_decisions_total")
    events = _samples(world, ("consent",), "crm_consent_events_total")
    caught = world.mesh.inbox.count()

    granted = [world.new_contact(world.a) for _ in range(3)]
    silent = world.new_contact(world.a)
    outsider = world.new_contact(world.b)
    for contact in granted:
        world.grant(world.a, contact["id"])
    ids = [c["id"] for c in (*granted, silent, outsider)]
    campaign = world.campaign(world.a, ids, name="Metrics")
    done = world.send_and_wait(world.a, campaign["id"])
    assert done["outcome_counts"] == {"sent": 3, "no_consent": 1, "not_member": 1}

    sent_now = sum(_samples(world, REPLICAS, "crm_campaign_sends_total").values())
    assert sent_now - sum(sends.values()) == world.mesh.inbox.count() - caught == 3
    decided = _by(_samples(world, REPLICAS, "crm_campaign_decisions_total"), "outcome")
    decided.subtract(_by(decisions, "outcome"))
    assert +decided == Counter(done["outcome_counts"])  # per outcome, as the ledger says
    recorded = _by(_samples(world, ("consent",), "crm_consent_events_total"), "kind")
    recorded.subtract(_by(events, "kind"))
    assert +recorded == Counter({"granted": 3})

    # Every service counted its RPCs; the gateway its routes; campaigns shows its backlog.
    handled = _by(_samples(world, ("contacts",), "crm_grpc_server_handled_total"), "grpc_method")
    assert handled["/crm.contacts.v1.ContactsService/ResolveRecipients"] >= 1
    send_route = {
        "method": "POST",
        "route": "/v1/campaigns/<campaign_id>/send",
        "status": "202",
    }
    routes = _samples(world, ("gateway",), "crm_http_requests_total")
    assert routes[tuple(sorted(send_route.items()))] >= 1
    backlog = _by(_samples(world, REPLICAS, "crm_campaign_ledger_backlog"), "state")
    assert set(backlog) == {"pending", "deferred"}
    for name in ("contacts", "consent", "campaigns"):  # the second replica may serve no RPC
        assert "crm_grpc_server_handling_seconds_bucket{" in world.mesh.scrape(name), name
    assert "crm_http_request_duration_seconds_bucket{" in world.mesh.scrape("gateway")


def test_no_log_line_holds_an_address_or_a_token(world: World) -> None:
    contact = world.new_contact(world.a)
    # Requests that would leak if the gateway logged paths, query strings or headers.
    world.api.call("GET", f"/v1/contacts?email={contact['email']}&q={contact['email']}", world.a)
    world.api.call("GET", f"/v1/contacts/{contact['email']}", world.a)
    forged = world.admin[:-4] + "AAAA"  # a JWT whose signature fails
    assert world.api.call("GET", "/v1/campaigns", forged).status == 401
    logs = world.mesh.all_logs()
    assert logs  # every process wrote to its captured stderr
    assert ADDRESS.findall(logs) == []
    assert JWT.findall(logs) == []
    for token in (world.admin, world.a, world.b, forged):
        assert token not in logs
