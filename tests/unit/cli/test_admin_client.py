"""The admin commands' shared client and output: pages, problems, network failures, formats.

The gateway here is a small HTTP server of the test answering canned routes;
the commands run in this process through `crm`'s own parser (cheap), except
where the exit of a real process (no traceback) is the point.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.admin.contacts import parse_filter
from services.admin.org import parse_grant
from services.admin.progress import Progress
from services.cli import parser

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "header.payload.signature"
# A token whose (unverified) payload says it acts for sciences, as `crm import` checks.
SCIENCES_TOKEN = "h." + base64.urlsafe_b64encode(b'{"component":"sciences"}').decode() + ".s"
Route = Callable[[dict[str, str], Any], tuple[int, Any]]


class FakeGateway:
    """Canned answers per (method, path); every request seen (method, path, query, body)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[tuple[str, str, dict[str, str], Any]] = []
        self.headers: dict[str, str] = {}  # sent with every answer
        self.url = ""

    def answer(self, method: str, target: str, body: Any, auth: str) -> tuple[int, Any]:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.seen.append((method, url.path, query, body))
        if auth not in (f"Bearer {TOKEN}", f"Bearer {SCIENCES_TOKEN}"):
            return 401, {"type": "about:blank", "title": "Unauthorized", "status": 401,
                         "detail": "a bearer token is required"}  # fmt: skip
        route = self.routes.get((method, url.path))
        if route is None:
            return 404, {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "-"}
        return route(query, body)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            is_json = self.headers.get("Content-Type") == "application/json"
            body = json.loads(raw_body) if is_json else raw_body or None
            status, answer = fake.answer(
                self.command, self.path, body, self.headers.get("Authorization", "")
            )
            raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            kind = "application/json" if status < 400 else "application/problem+json"
            self.send_header("Content-Type", "text/plain" if isinstance(answer, bytes) else kind)
            for name, value in fake.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()


def crm(gateway: FakeGateway, *words: str, token: str = TOKEN) -> int:
    """Runs `crm WORDS --gateway ... --token ...` in this process; returns its exit code."""
    args = parser().parse_args([*words, "--gateway", gateway.url, "--token", token])
    try:
        args.run(args)
    except SystemExit as leaving:
        return int(leaving.code or 0)
    return 0


def paged_requests(count: int) -> Route:
    """GET /v1/privacy-requests over `count` requests; the token is the next offset."""
    items = [{"id": f"r{n}", "kind": "access", "status": "open"} for n in range(count)]

    def route(query: dict[str, str], _: Any) -> tuple[int, Any]:
        size = int(query.get("page_size", "0")) or 50
        start = int(query.get("page_token", "0"))
        end = start + size
        return 200, {
            "requests": items[start:end],
            "next_page_token": str(end) if end < count else "",
        }

    return route


def test_a_list_follows_every_page_and_a_page_token_reads_one(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.routes[("GET", "/v1/privacy-requests")] = paged_requests(5)
    assert crm(gateway, "privacy", "list", "--page-size", "2", "--status", "open") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed["requests"]] == ["r0", "r1", "r2", "r3", "r4"]
    asked = [(q.get("page_token"), q["page_size"], q["status"]) for _, _, q, _ in gateway.seen]
    assert asked == [(None, "2", "open"), ("2", "2", "open"), ("4", "2", "open")]
    assert crm(gateway, "privacy", "list", "--page-size", "2", "--page-token", "2") == 0
    one = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in one["requests"]] == ["r2", "r3"] and one["next_page_token"] == "4"


def test_a_gateway_repeating_its_page_token_is_an_error_not_a_loop(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.routes[("GET", "/v1/privacy-requests")] = lambda q, b: (
        200, {"requests": [{"id": "r"}], "next_page_token": "same"}
    )  # fmt: skip
    assert crm(gateway, "privacy", "list") == 1
    assert "repeated the page token" in capsys.readouterr().err
    assert len(gateway.seen) == 2


def test_table_and_csv_print_one_row_per_item_and_one_line_per_field(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.routes[("GET", "/v1/privacy-requests")] = paged_requests(3)
    assert crm(gateway, "privacy", "list", "--format", "csv") == 0
    assert capsys.readouterr().out.splitlines() == [
        "id,kind,status", "r0,access,open", "r1,access,open", "r2,access,open",
    ]  # fmt: skip
    assert crm(gateway, "privacy", "list", "--format", "table") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "kind", "status"] and len(lines) == 5
    campaign = {"id": "c1", "status": "done", "outcome_counts": {"sent": 3, "no_consent": 1}}
    gateway.routes[("GET", "/v1/campaigns/c1")] = lambda q, b: (200, campaign)
    assert crm(gateway, "campaigns", "show", "c1", "--format", "table") == 0
    shown = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["outcome_counts.sent", "3"] in shown and ["outcome_counts.no_consent", "1"] in shown


def test_a_problem_goes_to_stderr_with_its_field_violations_and_exits_1(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = {
        "type": "about:blank", "title": "Bad Request", "status": 400,
        "detail": "the request is not valid",
        "errors": [{"field": "contact_id", "description": "must be a UUID"}],
    }  # fmt: skip
    gateway.routes[("POST", "/v1/privacy-requests")] = lambda q, b: (400, problem)
    assert crm(gateway, "privacy", "file", "--kind", "access", "--contact", "x") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "crm privacy: 400 Bad Request: the request is not valid",
        "  contact_id: must be a UUID",
    ]
    assert gateway.seen[-1][3] == {"kind": "access", "contact_id": "x"}
    assert crm(gateway, "campaigns", "list", token="wrong") == 1
    assert capsys.readouterr().err.startswith("crm campaigns: 401 Unauthorized")


def test_an_error_page_that_is_not_a_problem_still_says_the_status(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.routes[("GET", "/v1/campaigns")] = lambda q, b: (502, b"<html>Bad gateway</html>")
    assert crm(gateway, "campaigns", "list") == 1
    assert capsys.readouterr().err.startswith("crm campaigns: 502")


def test_options_that_do_not_go_together_exit_2_before_any_request(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crm(gateway, "privacy", "file", "--kind", "erasure", "--contact", "c",
               "--set", "phone=") == 2  # fmt: skip
    assert crm(gateway, "export", "contacts", "--for-import") == 2
    assert "--kind" in capsys.readouterr().err
    assert gateway.seen == []


def test_lifecycle_steps_post_an_empty_body_to_their_route(gateway: FakeGateway) -> None:
    for step in ("pause", "resume", "cancel", "unschedule"):
        gateway.routes[("POST", f"/v1/campaigns/c%2F1/{step}")] = lambda q, b: (200, {"id": "c"})
    for step in ("pause", "resume", "cancel", "unschedule"):
        assert crm(gateway, "campaigns", step, "c/1") == 0
    assert [(m, p, b) for m, p, _, b in gateway.seen] == [
        ("POST", f"/v1/campaigns/c%2F1/{step}", {})
        for step in ("pause", "resume", "cancel", "unschedule")
    ]


def _crm_process(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env |= {"PYTHONPATH": str(ROOT), "CRM_TOKEN": TOKEN}
    command = [sys.executable, "-m", "services.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_a_gateway_that_is_down_or_silent_is_one_line_and_exit_1() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Bound, then closed: nothing listens there.
    down = _crm_process("campaigns", "list", "--gateway", f"http://127.0.0.1:{port}")
    assert down.returncode == 1 and down.stdout == ""
    assert down.stderr.splitlines() == [
        f"crm campaigns: cannot reach the gateway at http://127.0.0.1:{port}: Connection refused"
    ]
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        late = _crm_process("org", "show", "--gateway", url, "--timeout", "0.3")
    assert late.returncode == 1
    assert late.stderr.splitlines() == [f"crm org: cannot reach the gateway at {url}: timed out"]


def test_filters_and_grants_parse_from_their_command_line_form() -> None:
    assert parse_filter("first_name=Ada") == {"field": "first_name", "equals": "Ada"}
    assert parse_filter("sciences.budget=1000..5000") == {
        "field": "sciences.budget", "min": "1000", "max": "5000",
    }  # fmt: skip
    assert parse_filter("d=..2025-01-31") == {"field": "d", "max": "2025-01-31"}
    for bad in ("no-equals", "=x", "f=.."):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_filter(bad)
    assert parse_grant("components=a+b,service=alumni") == {
        "audience": "components", "components": ["a", "b"], "service": "alumni",
    }  # fmt: skip


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_on_a_terminal_and_writes_one_line_elsewhere() -> None:
    terminal = _Terminal()
    bar = Progress("import", total=4_000_000, unit="bytes", stream=terminal)
    for _ in range(4):
        bar.advance(1_000_000)
    bar.finish()
    frames = terminal.getvalue().split("\r")[1:]
    assert len(frames) == 5  # one per visible step, then the final line
    assert frames[1].startswith("import [" + "#" * 15 + "-" * 15 + "]  50% 2.0 / 4.0 MB")
    assert frames[-1] == "import [" + "#" * 30 + "] 100% 4.0 / 4.0 MB\n"
    pipe = io.StringIO()
    rows = Progress("export", stream=pipe)
    for _ in range(1234):
        rows.advance(1)
    rows.finish()
    assert pipe.getvalue() == "export 1,234 rows\n"


def test_an_import_replaces_its_report_only_when_the_gateway_answered_one(
    gateway: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "people.csv"
    source.write_bytes(b"email\r\nada@example.org\r\n")
    report = tmp_path / "people.report.csv"
    report.write_text("the report of an earlier run")
    problem = {"type": "about:blank", "title": "Bad Request", "status": 400,
               "detail": "the header of the file is not usable"}  # fmt: skip
    gateway.routes[("POST", "/v1/contacts/imports")] = lambda q, b: (400, problem)
    words = ("import", "contacts", str(source), "--component", "sciences")
    assert crm(gateway, *words, token=SCIENCES_TOKEN) == 1
    assert "400 Bad Request" in capsys.readouterr().err
    assert report.read_text() == "the report of an earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv", "people.report.csv"]

    answered = b"line,outcome,contact_id,same_as_line,problems\r\n2,created,c1,,\r\n"
    gateway.routes[("POST", "/v1/contacts/imports")] = lambda q, b: (200, answered)
    gateway.headers["X-Import-Totals"] = "created=1, rejected=0"
    assert crm(gateway, *words, token=SCIENCES_TOKEN) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["totals"] == {"created": 1, "rejected": 0}
    assert report.read_bytes() == answered
    method, _, query, body = gateway.seen[-1]
    assert body == source.read_bytes() and query["kind"] == "person"
    assert query["import_id"] == printed["import_id"] and "dry_run" not in query
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv", "people.report.csv"]
    # A token acting for another component is refused before anything is sent.
    assert crm(gateway, "import", "contacts", str(source), "--component", "droit",
               token=SCIENCES_TOKEN) == 1  # fmt: skip
    assert "does not act for the component droit" in capsys.readouterr().err
    assert len(gateway.seen) == 2


def test_a_privacy_export_goes_to_its_file_and_a_refused_one_leaves_none(
    gateway: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {"format": "crm-mesh/privacy-export/v1", "request": {"id": "r1"}, "contacts": []}
    gateway.routes[("GET", "/v1/privacy-requests/r1/export")] = lambda q, b: (200, document)
    conflict = {"type": "about:blank", "title": "Conflict", "status": 409,
                "detail": "the request is not done"}  # fmt: skip
    gateway.routes[("GET", "/v1/privacy-requests/r2/export")] = lambda q, b: (409, conflict)
    target = tmp_path / "person.json"
    assert crm(gateway, "privacy", "export", "r1", "--output", str(target)) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == document
    assert capsys.readouterr().out == ""
    other = tmp_path / "other.json"
    assert crm(gateway, "privacy", "export", "r2", "--output", str(other)) == 1
    assert capsys.readouterr().err == "crm privacy: 409 Conflict: the request is not done\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["person.json"]
