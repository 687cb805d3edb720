"""`crm pressure`: what it sends the gateway, what it prints, and that a refusal exits 1.

The gateway here is a small HTTP server of the test that keeps one policy and
answers as the real one does (version numbers, 409 from a stale version, 401
without a token); `crm` runs as a process, as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "header.payload.signature"
FIRST: dict[str, Any] = {
    "version": 0,
    "rules": [
        {
            "id": "grouping",
            "scope": "grouping",
            "scope_value": "",
            "max_messages": 3,
            "window_seconds": 604800,
        }
    ],
    "min_gap_seconds": 0,
    "quiet_dates": [],
    "default_time_zone": "Europe/Paris",
}


@dataclass
class FakeGateway:
    """The policy, every version written, and every request seen (method, path, body)."""

    versions: list[dict[str, Any]] = field(default_factory=lambda: [dict(FIRST)])
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, path: str, body: Any, token: str) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if token != f"Bearer {TOKEN}":
            return 401, {"title": "Authentication required", "status": 401, "detail": "no"}
        route = urlsplit(path)
        if method == "GET" and route.path == "/v1/pressure-policy":
            return 200, self.versions[-1]
        if method == "GET" and route.path == "/v1/pressure-policy/versions":
            return 200, self._page(parse_qs(route.query))
        if method == "PUT" and route.path == "/v1/pressure-policy":
            in_force = self.versions[-1]["version"]
            if body.get("expected_version") != in_force:
                detail = f"the pressure policy is at version {in_force}"
                return 409, {"title": "Conflict", "status": 409, "detail": detail}
            written = {k: v for k, v in body.items() if k != "expected_version"}
            written |= {"version": in_force + 1, "changed_by": "admin@grouping"}
            self.versions.append(written)
            return 200, written
        return 404, {"title": "Not found", "status": 404, "detail": "no route"}

    def _page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        size = int(query.get("page_size", ["0"])[0]) or 50
        start = int(query.get("page_token", ["0"])[0] or 0)
        newest_first = self.versions[::-1]
        page = newest_first[start : start + size]
        more = start + size < len(newest_first)
        return {"versions": page, "next_page_token": str(start + size) if more else ""}


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = fake.answer(
                self.command, self.path, body, self.headers.get("Authorization", "")
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            kind = "application/json" if status < 400 else "application/problem+json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def crm(gateway: FakeGateway, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env |= {"PYTHONPATH": str(ROOT), "CRM_TOKEN": token}
    verb, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "pressure", verb, "--gateway", gateway.url, *rest],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def writes(gateway: FakeGateway) -> list[Any]:
    return [body for method, _, body in gateway.requests if method == "PUT"]


@pytest.mark.parametrize("verb", ["", "show", "history", "set", "add-rule", "add-quiet-dates"])
def test_every_verb_has_help(verb: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env["PYTHONPATH"] = str(ROOT)
    command = [
        sys.executable,
        "-m",
        "services.cli",
        "pressure",
        *([verb] if verb else []),
        "--help",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: crm pressure" in result.stdout
    if verb:
        assert "--gateway" in result.stdout and "--token" in result.stdout


def test_show_prints_the_policy_the_gateway_answers(gateway: FakeGateway) -> None:
    result = crm(gateway, "show")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == FIRST
    result = crm(gateway, "show", "--at", "2025-06-01T08:00:00+02:00")
    assert result.returncode == 0, result.stderr
    assert gateway.requests[-1][1] == "/v1/pressure-policy?at=2025-06-01T08%3A00%3A00%2B02%3A00"
    assert writes(gateway) == []


def test_add_rule_writes_the_policy_read_plus_the_rule_from_the_version_read(
    gateway: FakeGateway,
) -> None:
    result = crm(
        gateway, "add-rule", "sciences-monthly", "--scope", "component", "--value", "sciences",
        "--max", "2", "--window", "30d",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (body,) = writes(gateway)
    assert body["expected_version"] == 0
    assert body["rules"] == [
        *FIRST["rules"],
        {
            "id": "sciences-monthly",
            "scope": "component",
            "scope_value": "sciences",
            "max_messages": 2,
            "window_seconds": 30 * 86400,
        },
    ]
    assert body["note"] == "add rule sciences-monthly"
    assert "version" not in body and "changed_by" not in body
    assert json.loads(result.stdout)["version"] == 1


def test_add_quiet_dates_keeps_the_rules_and_adds_the_period(gateway: FakeGateway) -> None:
    result = crm(
        gateway, "add-quiet-dates", "exams-june", "--start", "2025-06-02", "--end", "2025-06-20",
        "--component", "sciences", "--label", "Examens", "--note", "calendrier",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (body,) = writes(gateway)
    assert body["rules"] == FIRST["rules"] and body["note"] == "calendrier"
    assert body["quiet_dates"] == [
        {
            "id": "exams-june",
            "component": "sciences",
            "start": "2025-06-02",
            "end": "2025-06-20",
            "label": "Examens",
        }
    ]


def test_set_takes_a_show_answer_and_writes_from_its_version(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    shown = crm(gateway, "show").stdout
    edited = json.loads(shown) | {"min_gap_seconds": 86400}
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(edited))
    result = crm(gateway, "set", "--file", str(policy_file), "--note", "one a day")
    assert result.returncode == 0, result.stderr
    (body,) = writes(gateway)
    assert body == {
        "rules": FIRST["rules"],
        "min_gap_seconds": 86400,
        "quiet_dates": [],
        "default_time_zone": "Europe/Paris",
        "note": "one a day",
        "expected_version": 0,
    }
    # The same file again: written from version 0, which is no longer in force.
    stale = crm(gateway, "set", "--file", str(policy_file))
    assert stale.returncode == 1
    assert stale.stdout == ""
    assert "409" in stale.stderr and "version 1" in stale.stderr
    assert "Traceback" not in stale.stderr
    assert len(gateway.versions) == 2


def test_set_refuses_a_file_that_is_not_a_policy(gateway: FakeGateway, tmp_path: Path) -> None:
    for content in ("not json", "[1]", json.dumps({"rulez": []})):
        policy_file = tmp_path / "policy.json"
        policy_file.write_text(content)
        result = crm(gateway, "set", "--file", str(policy_file))
        assert result.returncode == 1, content
        assert result.stderr.startswith("crm pressure:"), result.stderr
    missing = crm(gateway, "set", "--file", str(tmp_path / "absent.json"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    assert writes(gateway) == []


def test_a_rule_id_already_there_or_a_bad_window_exits_1_without_writing(
    gateway: FakeGateway,
) -> None:
    again = crm(
        gateway, "add-rule", "grouping", "--scope", "grouping", "--max", "1", "--window", "1d"
    )
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = crm(gateway, "add-rule", "x", "--scope", "channel", "--max", "1", "--window", "a week")
    assert bad.returncode == 2 and "not a duration" in bad.stderr  # argparse's usage error
    no_value = crm(gateway, "add-rule", "x", "--scope", "channel", "--max", "1", "--window", "1d")
    assert no_value.returncode == 1 and "--value" in no_value.stderr
    assert writes(gateway) == []


def test_history_all_follows_every_page(gateway: FakeGateway) -> None:
    for n in range(4):
        gateway.versions.append({**FIRST, "version": n + 1, "min_gap_seconds": n})
    result = crm(gateway, "history", "--all", "--page-size", "2")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["versions"]
    assert [v["version"] for v in listed] == [4, 3, 2, 1, 0]
    # Without --all it is the same: every list follows its pages unless a page is named.
    every = json.loads(crm(gateway, "history", "--page-size", "2").stdout)
    assert [v["version"] for v in every["versions"]] == [4, 3, 2, 1, 0]
    one_page = json.loads(crm(gateway, "history", "--page-size", "2", "--page-token", "2").stdout)
    assert [v["version"] for v in one_page["versions"]] == [2, 1]
    assert one_page["next_page_token"] == "4"


def test_a_refused_token_exits_1_with_the_problem(gateway: FakeGateway) -> None:
    result = crm(gateway, "show", token="wrong")
    assert result.returncode == 1
    assert result.stderr.startswith("crm pressure: 401")
    assert result.stdout == ""
