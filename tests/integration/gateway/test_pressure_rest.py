"""The pressure policy through the gateway (and campaigns over gRPC): who reads, who writes, races.

Every test reads the version in force first: the module shares one campaigns
database, whose versions table is append-only.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.crm.campaigns.v1 import pressure_pb2, pressure_pb2_grpc
from services.gateway.pressure_schemas import POLICY_EXAMPLE
from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, Gateway, problem

pytestmark = pytest.mark.skipif(
    not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
)
PATH = "/v1/pressure-policy"
ROOT = Path(__file__).resolve().parents[3]


def header(reply: Any, name: str) -> str | None:
    """A header's value, whatever case the server spelled its name in."""
    found = [v for k, v in reply.headers.items() if k.lower() == name.lower()]
    return found[0] if found else None


def current(gateway: Gateway, token: str | None = None) -> dict[str, Any]:
    reply = gateway.api.call("GET", PATH, token or gateway.keys.admin())
    assert reply.status == 200, reply.text
    assert header(reply, "ETag") == f'"{reply.json["version"]}"'
    body: dict[str, Any] = reply.json
    return body


def versions(gateway: Gateway) -> list[dict[str, Any]]:
    reply = gateway.api.call("GET", f"{PATH}/versions?page_size=200", gateway.keys.admin())
    assert reply.status == 200, reply.text
    found: list[dict[str, Any]] = reply.json["versions"]
    return found


def put(gateway: Gateway, body: dict[str, Any], if_match: int | None, token: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
    return gateway.api.call("PUT", PATH, token or gateway.keys.admin(), body, headers=headers)


def policy_part(version: dict[str, Any]) -> dict[str, Any]:
    """What a PUT sends back: the policy without its version, author, time and note."""
    kept = {k: v for k, v in version.items() if k in POLICY_EXAMPLE}
    kept["quiet_dates"] = [{**d} for d in kept["quiet_dates"]]
    return kept


def expected_example() -> dict[str, Any]:
    """POLICY_EXAMPLE as the gateway answers it (defaults written out)."""
    example = copy.deepcopy(POLICY_EXAMPLE)
    for period in example["quiet_dates"]:
        period.setdefault("label", "")
    return example


def test_staff_of_any_component_read_the_policy_and_the_settings_default_comes_first(
    gateway: Gateway,
) -> None:
    staff = gateway.keys.issuer.mint(f"carol@{A}", component=A, roles=["staff"])
    policy = current(gateway, staff)
    if policy["version"] == 0:  # nothing written yet in this module: the settings' rule
        assert policy["rules"] == [
            {
                "id": "grouping",
                "scope": "grouping",
                "scope_value": "",
                "max_messages": 3,
                "window_seconds": 604800,
            }
        ]
        assert "changed_at" not in policy and "changed_by" not in policy
    listed = gateway.api.call("GET", f"{PATH}/versions", staff)
    assert listed.status == 200, listed.text
    assert "next_page_token" in listed.json
    problem(gateway.api.call("GET", PATH), 401)


def test_an_admin_writes_a_version_and_reads_it_back_whole(gateway: Gateway) -> None:
    before = current(gateway)
    reply = put(gateway, {**POLICY_EXAMPLE, "note": "rentrée"}, before["version"])
    assert reply.status == 200, reply.text
    written = reply.json
    assert written["version"] == before["version"] + 1
    assert header(reply, "ETag") == f'"{written["version"]}"'
    assert (written["changed_by"], written["note"]) == ("admin@grouping", "rentrée")
    assert written["changed_at"].endswith("Z")
    assert policy_part(written) == expected_example()
    again = current(gateway)
    assert again == written
    assert versions(gateway)[0] == written


def test_a_component_manager_gets_403_on_put_and_nothing_changes(gateway: Gateway) -> None:
    before = current(gateway)
    count = len(versions(gateway))
    manager = gateway.keys.manager(A)
    refused = problem(put(gateway, POLICY_EXAMPLE, before["version"], manager), 403)
    assert "admin" in refused["detail"]
    assert "manager@" not in refused["detail"]
    # Straight to campaigns over gRPC: the service refuses too.
    request = pressure_pb2.PutPressurePolicyRequest(
        policy=pressure_pb2.PressurePolicy(default_time_zone="UTC"),
        expected_version=before["version"],
    )
    with grpc.insecure_channel(gateway.targets["campaigns"]) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            pressure_pb2_grpc.PressurePolicyServiceStub(channel).PutPressurePolicy(
                request, metadata=[("authorization", f"Bearer {manager}")], timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        read = pressure_pb2_grpc.PressurePolicyServiceStub(channel).GetPressurePolicy(
            pressure_pb2.GetPressurePolicyRequest(),
            metadata=[("authorization", f"Bearer {manager}")],
            timeout=10,
        )
        assert read.version == before["version"]  # reading is open to staff
    assert current(gateway) == before
    assert len(versions(gateway)) == count


def test_an_admin_put_with_a_stale_if_match_gets_409_and_changes_nothing(
    gateway: Gateway,
) -> None:
    start = current(gateway)
    first = put(gateway, {**POLICY_EXAMPLE, "min_gap_seconds": 3600}, start["version"])
    assert first.status == 200, first.text
    after_first = current(gateway)
    count = len(versions(gateway))
    stale = {**POLICY_EXAMPLE, "min_gap_seconds": 7200}
    refused = problem(put(gateway, stale, start["version"]), 409)
    assert f"version {after_first['version']}" in refused["detail"]
    problem(put(gateway, {**stale, "expected_version": start["version"]}, None), 409)
    assert current(gateway) == after_first
    assert len(versions(gateway)) == count


def test_a_put_naming_no_version_is_428_and_two_that_disagree_are_400(gateway: Gateway) -> None:
    before = current(gateway)
    problem(put(gateway, POLICY_EXAMPLE, None), 428)
    body = {**POLICY_EXAMPLE, "expected_version": before["version"] + 5}
    disagree = problem(put(gateway, body, before["version"]), 400)
    assert [e["field"] for e in disagree["errors"]] == ["expected_version"]
    bad_tag = gateway.api.call(
        "PUT", PATH, gateway.keys.admin(), POLICY_EXAMPLE, headers={"If-Match": '"three"'}
    )
    assert [e["field"] for e in problem(bad_tag, 400)["errors"]] == ["If-Match"]
    assert current(gateway) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p["rules"][1].update(scope_value="droit"), "rules[1].scope_value"),
        (lambda p: p["rules"][0].update(scope_value="sciences"), "rules[0].scope_value"),
        (lambda p: p["rules"][3].update(scope_value="fax"), "rules[3].scope_value"),
        (lambda p: p["rules"][2].update(window_seconds=10), "rules[2].window_seconds"),
        (lambda p: p["rules"][2].update(id="rules[0]"), "rules[2].id"),
        (lambda p: p["rules"][2].update(id="grouping-weekly"), "rules[2].id"),
        (lambda p: p.update(default_time_zone="Mars/Olympus"), "default_time_zone"),
        (lambda p: p["quiet_hours"].update(end="20:00"), "quiet_hours.end"),
        (lambda p: p["quiet_hours"].update(start="8:00"), "quiet_hours.start"),
        (lambda p: p["quiet_dates"][0].update(end="2025-02-30"), "quiet_dates[0].end"),
        (lambda p: p["quiet_dates"][0].update(end="2025-05-01"), "quiet_dates[0].end"),
        (lambda p: p["quiet_dates"][1].update(component="droit"), "quiet_dates[1].component"),
        (lambda p: p.update(min_gap_seconds=31 * 86400), "min_gap_seconds"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_an_invalid_policy_is_400_on_its_field_and_writes_nothing(
    gateway: Gateway, change: Any, field: str
) -> None:
    before = current(gateway)
    body = copy.deepcopy(POLICY_EXAMPLE)
    change(body)
    refused = problem(put(gateway, body, before["version"]), 400)
    assert field in {e["field"] for e in refused["errors"]}, refused
    assert current(gateway) == before


def test_at_reads_the_version_in_force_then_and_pages_cover_the_history(
    gateway: Gateway,
) -> None:
    written = []
    for gap in (60, 120, 180):
        version = current(gateway)["version"]
        reply = put(gateway, {**POLICY_EXAMPLE, "min_gap_seconds": gap}, version)
        assert reply.status == 200, reply.text
        written.append(reply.json)
    for version in written:
        at = version["changed_at"].replace("Z", "+00:00")
        reply = gateway.api.call("GET", f"{PATH}?at={at.replace('+', '%2B')}", gateway.keys.admin())
        assert reply.status == 200, reply.text
        assert reply.json == version
        assert header(reply, "ETag") is None  # a past version is not one to write from
    before_all = gateway.api.call("GET", f"{PATH}?at=2000-01-01T00:00:00Z", gateway.keys.admin())
    assert before_all.json["version"] == 0
    naive = gateway.api.call("GET", f"{PATH}?at=2000-01-01T00:00:00", gateway.keys.admin())
    assert [e["field"] for e in problem(naive, 400)["errors"]] == ["at"]

    everything = versions(gateway)
    paged: list[dict[str, Any]] = []
    token = ""
    while True:
        reply = gateway.api.call(
            "GET", f"{PATH}/versions?page_size=2&page_token={token}", gateway.keys.admin()
        )
        assert reply.status == 200, reply.text
        paged += reply.json["versions"]
        token = reply.json["next_page_token"]
        if not token:
            break
    assert paged == everything
    numbers = [v["version"] for v in paged]
    assert numbers == list(range(len(numbers), 0, -1))
    assert paged[: len(written)] == written[::-1]


def test_the_cli_adds_a_rule_through_the_real_gateway(gateway: Gateway) -> None:
    before = current(gateway)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env |= {"PYTHONPATH": str(ROOT), "CRM_TOKEN": gateway.keys.admin()}
    rule_id = f"cli-{before['version']}"
    command = [
        sys.executable, "-m", "services.cli", "pressure", "add-rule", rule_id,
        "--gateway", gateway.api.base, "--scope", "channel", "--value", "sms",
        "--max", "2", "--window", "7d",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    after = current(gateway)
    assert after["version"] == before["version"] + 1
    assert after["rules"][-1] == {
        "id": rule_id,
        "scope": "channel",
        "scope_value": "sms",
        "max_messages": 2,
        "window_seconds": 604800,
    }
    assert after["rules"][:-1] == before["rules"]
    env["CRM_TOKEN"] = gateway.keys.manager(A)
    refused = subprocess.run(
        [*command[:5], "cli-other", *command[6:]], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1 and "403" in refused.stderr
    assert current(gateway) == after
