"""`crm up` as a newcomer runs it: a quiet start, and every way of stopping it stops everything.

Each test starts a real `crm up --port-base N` in its own session (as a terminal would
start a job), then looks at what is left with /proc and by connecting to its ports.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.dev.up import PORT_COUNT
from tests.support.embedded import free_port_run

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "contacts", "consent", "campaigns", "mailcatcher")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+) +([A-Z]+) +(\S+): ")
START_SECONDS = 120
STOP_SECONDS = 60


def _clean_env(home: Path) -> dict[str, str]:
    prefixes = ("CONTACTS_", "CONSENT_", "CAMPAIGNS_", "GATEWAY_", "CRM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["CRM_HOME"] = str(home)
    return env


@dataclass
class Up:
    """A running `crm up`, the leader of its own session and process group."""

    process: subprocess.Popen[bytes]
    base: int
    log: Path

    @property
    def ports(self) -> list[int]:
        # The services' and catcher's ports, and the metrics endpoints (N+6 on).
        return [*range(self.base, self.base + 5), *range(self.base + 6, self.base + PORT_COUNT)]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _session_members(session: int) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose session or process group is `session`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        pid = int(text.split(" ", 1)[0])
        fields = text.rsplit(")", 1)[1].split()
        state, pgrp, sid = fields[0], int(fields[2]), int(fields[3])
        if state != "Z" and session in (pgrp, sid):
            found.append((pid, text.split("(", 1)[1].rsplit(")", 1)[0]))
    return found


def _descendants(root: int) -> set[int]:
    """Every live process below `root` in the parent chain."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(text.split(" ", 1)[0])] = int(text.rsplit(")", 1)[1].split()[1])
    below: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - below
        below |= frontier
    return below


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start(home: Path, *extra: str) -> Up:
    base = free_port_run(PORT_COUNT)
    log = home / "up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--port-base", str(base), *extra],
            env=_clean_env(home),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    up = Up(process, base, log)
    deadline = time.monotonic() + START_SECONDS
    while "The mesh is up" not in up.output():
        if process.poll() is not None or time.monotonic() > deadline:
            _reap(up)
            pytest.fail(f"crm up did not start:\n{up.output()}")
        time.sleep(0.2)
    return up


def _reap(up: Up) -> None:
    """Leaves nothing behind, whatever the test found."""
    for pid, _ in _session_members(up.process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        up.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        up.process.kill()


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    started: list[Up] = []

    def start(*extra: str) -> Up:
        up = _start(tmp_path, *extra)
        started.append(up)
        return up

    yield start
    for up in started:
        _reap(up)


def _sigint_group(up: Up) -> None:
    os.killpg(up.process.pid, signal.SIGINT)


def _sigint_then_sigterm_group(up: Up) -> None:
    os.killpg(up.process.pid, signal.SIGINT)
    os.killpg(up.process.pid, signal.SIGTERM)


def _sigterm_parent(up: Up) -> None:
    os.kill(up.process.pid, signal.SIGTERM)


@pytest.mark.parametrize(
    "stop",
    [_sigint_group, _sigint_then_sigterm_group, _sigterm_parent],
    ids=["ctrl-c", "ctrl-c-then-sigterm", "sigterm-to-parent"],
)
def test_every_stop_ends_every_process_and_frees_every_port(
    mesh: Callable[..., Up], stop: Callable[[Up], None]
) -> None:
    up = mesh()
    children = _descendants(up.process.pid)
    assert len(children) >= 5, children  # the catcher and the four services
    assert all(_listening(port) for port in up.ports)

    stop(up)
    try:
        code = up.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"crm up still running {STOP_SECONDS}s after the stop:\n{up.output()}")

    output = up.output()
    assert code == 0, output
    assert "Traceback" not in output, output
    assert _session_members(up.process.pid) == [], output
    assert [pid for pid in children if _alive(pid)] == [], output
    assert [port for port in up.ports if _listening(port)] == [], output


def test_the_start_is_quiet_and_each_line_names_its_service(mesh: Callable[..., Up]) -> None:
    up = mesh()
    os.killpg(up.process.pid, signal.SIGINT)
    assert up.process.wait(timeout=STOP_SECONDS) == 0
    output = up.output()

    log_lines = [line for line in output.splitlines() if re.match(r"^\d{4}-\d\d-\d\d ", line)]
    assert log_lines, output
    for line in log_lines:
        match = LOG_LINE.match(line)
        assert match, f"not in the log format: {line!r}"
        service, level, logger = match.groups()
        assert service in (*SERVICES, "up"), line
        if level in ("DEBUG", "INFO"):
            assert logger.split(".")[0] in ("meshkit", "services"), f"third-party: {line!r}"
    assert not re.search(r"alembic|aiosmtpd|mail\.log", output), output

    ready = Counter(
        LOG_LINE.match(line).group(1)  # type: ignore[union-attr]
        for line in log_lines
        if " ready on " in line
    )
    assert ready == Counter(SERVICES), output
    assert "Traceback" not in output, output


def test_crm_up_refuses_to_start_beside_a_server_on_one_of_its_ports(tmp_path: Path) -> None:
    base = free_port_run(PORT_COUNT)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))  # where consent would listen
        taken.listen()
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--port-base", str(base)],
            env=_clean_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            for pid, _ in _session_members(process.pid):
                os.kill(pid, signal.SIGKILL)
            output, _ = process.communicate()
            pytest.fail(f"crm up did not refuse a taken port:\n{output.decode()}")
    text = output.decode()
    assert process.returncode != 0, text
    assert str(base + 2) in text and "in use" in text, text
    assert "Traceback" not in text, text
    assert _session_members(process.pid) == [], text
