"""The gateway under gunicorn (services/gateway/wsgi.py) serves the mesh as waitress does.

A second gateway, `python -m services.gateway.wsgi --workers 2`, runs beside the
mesh's own with the same settings: it answers through both worker processes, logs
in the mesh's format, stops cleanly on SIGTERM, and refuses a port already taken.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.gateway import gateway_environment, with_children
from meshkit.grpc_server import address_in_use
from tests.e2e.conftest import World
from tests.support.mesh import Api
from tests.support.processes import free_port, wait_http_healthy

pytestmark = pytest.mark.e2e


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    listen: str
    log: Path

    @property
    def api(self) -> Api:
        return Api(f"http://{self.listen}")


def start(world: World, listen: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.gateway.wsgi", "--workers", "2"],
            env=gateway_environment(world.mesh, listen),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def served(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    listen = f"127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("gunicorn") / "gateway.log"
    process = start(world, listen, log)
    try:
        wait_http_healthy(f"http://{listen}/healthz", timeout=60)
        yield Served(process, listen, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_reads_through_both_workers(world: World, served: Served) -> None:
    contact = world.new_contact(world.a)
    workers = with_children(served.process.pid)[1:]
    assert len(workers) == 2
    for _ in range(4):
        reply = served.api.call("GET", f"/v1/contacts/{contact['id']}", world.a)
        assert reply.status == 200, reply.text
        assert reply.json["fields"]["email"]["value"] == contact["email"]
    refused = served.api.call("GET", f"/v1/contacts/{contact['id']}")
    assert refused.status == 401
    assert refused.headers["Content-Type"] == "application/problem+json"


def test_logs_in_the_mesh_format(served: Served) -> None:
    lines = served.log.read_text().splitlines()
    ready = [line for line in lines if line.endswith(f"ready on {served.listen}")]
    assert len(ready) == 1
    assert " gateway " in ready[0] and " INFO " in ready[0]
    # gunicorn's own format starts with "[date] [pid]"; its INFO lines are a library's
    assert not [line for line in lines if line.startswith("[")]


def test_a_taken_port_is_refused_in_one_line(world: World, served: Served, tmp_path: Path) -> None:
    log = tmp_path / "second.log"
    second = start(world, served.listen, log)
    assert second.wait(timeout=30) == 1
    (line,) = log.read_text().splitlines()
    assert f"cannot listen on {served.listen}" in line


def test_sigterm_stops_every_process_and_frees_the_port(served: Served) -> None:
    processes = with_children(served.process.pid)
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0
    assert not [pid for pid in processes if Path(f"/proc/{pid}").exists()]
    assert address_in_use(served.listen) is None
