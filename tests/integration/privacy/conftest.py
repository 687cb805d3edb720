"""contacts, consent, campaigns and the gateway as real processes on fresh PostgreSQL databases
(campaigns with Redis under a key prefix of its own, mailing to a real SMTP server), each one
stoppable and restartable on its own port and database (a part down, then back).

Consent runs as `crm serve consent` does in production: it drives campaigns over gRPC
(CONSENT_CAMPAIGNS_TARGET) and keeps the suppression list itself.
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
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine

from tests.integration.gateway.harness import A, B
from tests.support.mesh import Api, Inbox
from tests.support.processes import free_port, wait_grpc_healthy, wait_http_healthy
from tests.support.stores import REDIS_URL, forget_redis_prefix, fresh_postgres, redis_prefix
from tests.support.tokens import TestKeys

PARTS = ("contacts", "consent", "campaigns")
SUPPRESSION_SECRET = "privacy-tests-suppression-secret"

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
    inbox: Inbox  # the SMTP server campaigns mails to
    redis_prefix: str  # every Redis key campaigns writes starts with it
    targets: dict[str, str]  # gRPC host:port of each service
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
    ports = {n: free_port() for n in (*PARTS, "gateway", "smtp")}
    targets = {n: f"127.0.0.1:{ports[n]}" for n in PARTS}
    home = {"CRM_HOME": str(folder / "home")}
    prefix = redis_prefix()
    inbox = Inbox()
    with ExitStack() as stack:
        stack.callback(forget_redis_prefix, prefix)
        smtp = Controller(inbox, hostname="127.0.0.1", port=ports["smtp"])
        smtp.start()
        stack.callback(smtp.stop)
        urls = {n: stack.enter_context(fresh_postgres(f"priv_{n}")) for n in PARTS}
        contacts = Process(
            ["-m", "services.cli", "serve", "contacts"],
            {
                **home,
                **_identity(keys, "CONTACTS_", ports["contacts"], urls["contacts"]),
                "CONTACTS_CONSENT_TARGET": targets["consent"],
            },
            logs / "contacts.log",
            targets["contacts"],
        )
        consent = Process(
            ["-m", "services.cli", "serve", "consent"],
            {
                **home,
                **_identity(keys, "CONSENT_", ports["consent"], urls["consent"]),
                "CONSENT_CONTACTS_TARGET": targets["contacts"],
                "CONSENT_CAMPAIGNS_TARGET": targets["campaigns"],
                "CONSENT_SUPPRESSION_SECRET": SUPPRESSION_SECRET,
                "CONSENT_RPC_TIMEOUT_SECONDS": "2",
                "CONSENT_PRIVACY_JOB_SECONDS": "0.2",
                "CONSENT_PRIVACY_RETRY_SECONDS": "0.2",
                "CONSENT_PRIVACY_RETRY_MAX_SECONDS": "0.5",
            },
            logs / "consent.log",
            targets["consent"],
        )
        campaigns = Process(
            ["-m", "services.cli", "serve", "campaigns"],
            {
                **home,
                **_identity(keys, "CAMPAIGNS_", ports["campaigns"], urls["campaigns"]),
                "CAMPAIGNS_CONTACTS_TARGET": targets["contacts"],
                "CAMPAIGNS_CONSENT_TARGET": targets["consent"],
                "CAMPAIGNS_REDIS_URL": REDIS_URL,
                "CAMPAIGNS_REDIS_KEY_PREFIX": prefix,
                "CAMPAIGNS_SMTP_PORT": str(ports["smtp"]),
                "CAMPAIGNS_UNSUBSCRIBE_SECRET": "privacy-tests",
                "CAMPAIGNS_POLL_SECONDS": "0.1",
                "CAMPAIGNS_SCHEDULER_ENABLED": "false",
            },
            logs / "campaigns.log",
            targets["campaigns"],
        )
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        gateway = Process(
            ["-m", "services.cli", "serve", "gateway"],
            {
                **home,
                **keys.env("GATEWAY_"),
                "GATEWAY_LISTEN": f"127.0.0.1:{ports['gateway']}",
                "GATEWAY_CONTACTS_TARGET": targets["contacts"],
                "GATEWAY_CONSENT_TARGET": targets["consent"],
                "GATEWAY_CAMPAIGNS_TARGET": targets["campaigns"],
                "GATEWAY_UNSUBSCRIBE_SECRET": "privacy-tests",
                "GATEWAY_RPC_TIMEOUT_SECONDS": "5",
            },
            logs / "gateway.log",
            f"{gateway_url}/healthz",
        )
        processes = {
            "contacts": contacts,
            "consent": consent,
            "campaigns": campaigns,
            "gateway": gateway,
        }
        for process in processes.values():
            stack.callback(process.stop)
            process.start()
        engines = {n: create_engine(url) for n, url in urls.items()}
        for engine in engines.values():
            stack.callback(engine.dispose)
        running = Mesh(Api(gateway_url), keys, inbox, prefix, targets, processes, engines)
        for component in (A, B):
            reply = running.api.call(
                "POST", "/v1/components", keys.admin(), {"id": component, "name": component.title()}
            )
            assert reply.status == 201, reply.text
        yield running
