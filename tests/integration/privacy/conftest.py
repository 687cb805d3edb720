"""contacts, consent and the gateway as real processes on fresh PostgreSQL databases, each one
stoppable and restartable on its own port and database (a part down, then back).

Consent runs with stand-ins for campaigns and the suppression list (stand_ins.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from tests.integration.gateway.harness import A, B
from tests.support.mesh import Api
from tests.support.processes import free_port, wait_grpc_healthy, wait_http_healthy
from tests.support.stores import fresh_postgres
from tests.support.tokens import TestKeys

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Process:
    """One service process that a test may stop and start again, same port, same database."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    ready: str  # gRPC target or health URL
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, *self.argv],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            if self.ready.startswith("http"):
                wait_http_healthy(self.ready, timeout=60)
            else:
                wait_grpc_healthy(self.ready, timeout=60)
        except TimeoutError:
            raise AssertionError(self.log.read_text()) from None

    def stop(self) -> None:
        if self.popen is None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.popen = None


@dataclass
class Mesh:
    api: Api
    keys: TestKeys
    folder: Path  # where the stand-ins record their calls
    processes: dict[str, Process]
    engines: dict[str, Engine] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(p.log.read_text(errors="replace") for p in self.processes.values())


def _identity(keys: TestKeys, prefix: str, port: int, url: str) -> dict[str, str]:
    return {
        **keys.env(prefix),
        f"{prefix}LISTEN": f"127.0.0.1:{port}",
        f"{prefix}DATABASE_URL": url,
    }


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("privacy")
    keys = TestKeys(folder / "keys")
    logs = folder / "logs"
    ports = {n: free_port() for n in ("contacts", "consent", "campaigns", "gateway")}
    home = {"CRM_HOME": str(folder / "home")}
    with ExitStack() as stack:
        urls = {
            n: stack.enter_context(fresh_postgres(f"priv_{n}")) for n in ("contacts", "consent")
        }
        contacts = Process(
            ["-m", "services.cli", "serve", "contacts"],
            {**home, **_identity(keys, "CONTACTS_", ports["contacts"], urls["contacts"])},
            logs / "contacts.log",
            f"127.0.0.1:{ports['contacts']}",
        )
        consent = Process(
            ["-m", "tests.integration.privacy.stand_ins", str(folder)],
            {
                **home,
                **_identity(keys, "CONSENT_", ports["consent"], urls["consent"]),
                "CONSENT_CONTACTS_TARGET": f"127.0.0.1:{ports['contacts']}",
                "CONSENT_RPC_TIMEOUT_SECONDS": "2",
                "CONSENT_PRIVACY_JOB_SECONDS": "0.2",
                "CONSENT_PRIVACY_RETRY_SECONDS": "0.2",
                "CONSENT_PRIVACY_RETRY_MAX_SECONDS": "0.5",
            },
            logs / "consent.log",
            f"127.0.0.1:{ports['consent']}",
        )
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        gateway = Process(
            ["-m", "services.cli", "serve", "gateway"],
            {
                **home,
                **keys.env("GATEWAY_"),
                "GATEWAY_LISTEN": f"127.0.0.1:{ports['gateway']}",
                "GATEWAY_CONTACTS_TARGET": f"127.0.0.1:{ports['contacts']}",
                "GATEWAY_CONSENT_TARGET": f"127.0.0.1:{ports['consent']}",
                "GATEWAY_CAMPAIGNS_TARGET": f"127.0.0.1:{ports['campaigns']}",
                "GATEWAY_UNSUBSCRIBE_SECRET": "privacy-tests",
                "GATEWAY_RPC_TIMEOUT_SECONDS": "5",
            },
            logs / "gateway.log",
            f"{gateway_url}/healthz",
        )
        processes = {"contacts": contacts, "consent": consent, "gateway": gateway}
        for process in processes.values():
            stack.callback(process.stop)
            process.start()
        engines = {n: create_engine(url) for n, url in urls.items()}
        for engine in engines.values():
            stack.callback(engine.dispose)
        running = Mesh(Api(gateway_url), keys, folder, processes, engines)
        for component in (A, B):
            reply = running.api.call(
                "POST", "/v1/components", keys.admin(), {"id": component, "name": component.title()}
            )
            assert reply.status == 201, reply.text
        yield running
