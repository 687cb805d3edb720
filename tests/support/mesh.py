"""The whole mesh as real processes, a real SMTP server, and a small REST client.

Four services run as separate processes (`crm serve <name>`, two campaigns
replicas) against real PostgreSQL and Redis; aiosmtpd catches the mail.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.console import ConsoleClient
from tests.support.oidc import TestProvider
from tests.support.processes import (
    free_port,
    service_process,
    terminate_all,
    wait_grpc_healthy,
    wait_http_healthy,
)
from tests.support.stores import REDIS_URL, forget_redis_prefix, fresh_postgres, redis_prefix
from tests.support.tokens import TestKeys

UNSUBSCRIBE_SECRET = "e2e-unsubscribe-secret"


class Inbox:
    """aiosmtpd handler keeping every message it accepts, with its envelope."""

    def __init__(self, keep: bool = True, delay_seconds: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self._delay = delay_seconds
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.received = 0
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self._lock:
            self.connections += 1
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._delay:
            await asyncio.sleep(self._delay)  # a slow relay, so a test can act mid-campaign
        with self._lock:
            self.received += 1
            if not self._keep:
                return "250 OK"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages whose envelope names `address`."""
        with self._lock:
            return [m for rcpts, m in self.messages if address in rcpts]

    def count(self) -> int:
        with self._lock:
            return self.received


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Api:
    """A REST client for the gateway: every call returns status, headers and body."""

    base: str
    default_headers: dict[str, str] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json_body: Any = None,
        raw: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        headers = {**self.default_headers, **(headers or {})}
        data = raw
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return Reply(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read())


class Mesh:
    """Starts everything on enter, stops everything on exit."""

    def __init__(
        self,
        workdir: Path,
        pressure_max: int = 1,
        keep_mail: bool = True,
        batch_size: int = 50,
        lease_seconds: int = 300,
        smtp_delay_seconds: float = 0.0,
        dispatch_threads: int = 2,
        redis_url: str = REDIS_URL,
    ):
        self.workdir = workdir
        self.pressure_max = pressure_max
        self.batch_size = batch_size
        self.keys = TestKeys(workdir)
        self.provider: TestProvider | None = None  # the identity provider, once started
        self.lease_seconds = lease_seconds
        self.dispatch_threads = dispatch_threads
        self.redis_url = redis_url
        self.inbox = Inbox(keep=keep_mail, delay_seconds=smtp_delay_seconds)
        self.logs = workdir / "logs"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stack = ExitStack()

    def __enter__(self) -> Mesh:
        stack = self._stack
        urls = {
            n: stack.enter_context(fresh_postgres(n)) for n in ("contacts", "consent", "campaigns")
        }
        self.database_urls = urls  # jobs run in process, erasure scans
        smtp_port = free_port()
        controller = Controller(self.inbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        stack.callback(controller.stop)
        ports = {
            n: free_port()
            for n in ("contacts", "consent", "campaigns", "campaigns2", "gateway", "inbound")
        }
        self.gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        # host:port of each gRPC service, for tests that call a service directly.
        self.targets = {
            n: f"127.0.0.1:{port}" for n, port in ports.items() if n not in ("gateway", "inbound")
        }
        self.inbound_port = ports["inbound"]  # consent's unsubscribe-mail endpoint (SMTP)
        # Each process's Prometheus endpoint, by the name used in `processes`.
        metrics = {
            n: free_port() for n in ("contacts", "consent", "campaigns", "campaigns2", "gateway")
        }
        self.metrics_urls = {n: f"http://127.0.0.1:{port}/metrics" for n, port in metrics.items()}
        self.redis_prefix = redis_prefix()
        base = {"CRM_HOME": str(self.workdir / "home")}
        # Every service also trusts a test identity provider, as with Keycloak in production.
        provider = self.provider = TestProvider("EC")
        stack.callback(provider.close)
        for name in ("contacts", "consent"):
            prefix = f"{name.upper()}_"
            env = {
                **base,
                **self.keys.env(prefix),
                **provider.env(prefix),
                f"{prefix}LISTEN": f"127.0.0.1:{ports[name]}",
                f"{prefix}METRICS_LISTEN": f"127.0.0.1:{metrics[name]}",
                f"{prefix}DATABASE_URL": urls[name],
            }
            if name == "consent":
                env["CONSENT_CONTACTS_TARGET"] = f"127.0.0.1:{ports['contacts']}"
                env["CONSENT_INBOUND_LISTEN"] = f"127.0.0.1:{ports['inbound']}"
                env["CONSENT_CAMPAIGNS_TARGET"] = f"127.0.0.1:{ports['campaigns']}"
                env["CONSENT_UNSUBSCRIBE_SECRET"] = UNSUBSCRIBE_SECRET
                env["CONSENT_PUBLIC_BASE_URL"] = self.gateway_url
                env["CONSENT_OUTBOX_SECONDS"] = "0.5"
                env["CONSENT_OUTBOX_RETRY_SECONDS"] = "0.5"
                env["CONSENT_OUTBOX_RETRY_MAX_SECONDS"] = "2"
                env["CONSENT_SCHEDULER_SYNC_SECONDS"] = "0.5"
                # Privacy requests advance within a second, not the production 30 s.
                env["CONSENT_PRIVACY_JOB_SECONDS"] = "0.5"
                env["CONSENT_PRIVACY_RETRY_SECONDS"] = "0.5"
            else:
                env["CONTACTS_CONSENT_TARGET"] = f"127.0.0.1:{ports['consent']}"
            self.processes[name] = stack.enter_context(service_process(name, env, self.logs))
        for replica in ("campaigns", "campaigns2"):
            env = {
                **base,
                **self.keys.env("CAMPAIGNS_"),
                **provider.env("CAMPAIGNS_"),
                "CAMPAIGNS_LISTEN": f"127.0.0.1:{ports[replica]}",
                "CAMPAIGNS_METRICS_LISTEN": f"127.0.0.1:{metrics[replica]}",
                "CAMPAIGNS_DATABASE_URL": urls["campaigns"],
                "CAMPAIGNS_CONTACTS_TARGET": f"127.0.0.1:{ports['contacts']}",
                "CAMPAIGNS_CONSENT_TARGET": f"127.0.0.1:{ports['consent']}",
                "CAMPAIGNS_REDIS_URL": self.redis_url,
                "CAMPAIGNS_DISPATCH_THREADS": str(self.dispatch_threads),
                "CAMPAIGNS_REDIS_KEY_PREFIX": self.redis_prefix,
                "CAMPAIGNS_SMTP_HOST": "127.0.0.1",
                "CAMPAIGNS_SMTP_PORT": str(smtp_port),
                "CAMPAIGNS_PRESSURE_MAX_PER_WINDOW": str(self.pressure_max),
                "CAMPAIGNS_PUBLIC_BASE_URL": self.gateway_url,
                "CAMPAIGNS_UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
                "CAMPAIGNS_POLL_SECONDS": "0.1",
                "CAMPAIGNS_BATCH_SIZE": str(self.batch_size),
                "CAMPAIGNS_CLAIM_LEASE_SECONDS": str(self.lease_seconds),
            }
            self.processes[replica] = stack.enter_context(
                service_process("campaigns", env, self.logs / replica)
            )
        env = {
            **base,
            **self.keys.env("GATEWAY_"),
            **provider.env("GATEWAY_"),
            "GATEWAY_CONSOLE_OIDC_ISSUER": provider.issuer,
            "GATEWAY_LISTEN": f"127.0.0.1:{ports['gateway']}",
            "GATEWAY_METRICS_LISTEN": f"127.0.0.1:{metrics['gateway']}",
            "GATEWAY_CONTACTS_TARGET": f"127.0.0.1:{ports['contacts']}",
            "GATEWAY_CONSENT_TARGET": f"127.0.0.1:{ports['consent']}",
            "GATEWAY_CAMPAIGNS_TARGET": f"127.0.0.1:{ports['campaigns']}",
            "GATEWAY_UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
        }
        self.processes["gateway"] = stack.enter_context(service_process("gateway", env, self.logs))
        # On the way out every process gets SIGTERM at once: they stop side by side.
        stack.callback(lambda: terminate_all(list(self.processes.values())))
        self.smtp_port = smtp_port
        for name in ("contacts", "consent", "campaigns", "campaigns2"):
            wait_grpc_healthy(f"127.0.0.1:{ports[name]}", timeout=60)
        wait_http_healthy(f"{self.gateway_url}/healthz", timeout=60)
        self.api = Api(self.gateway_url)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        forget_redis_prefix(self.redis_prefix)

    def console(self) -> ConsoleClient:
        """A new browser-like console user (sign in with `.sign_in(person(...))`)."""
        assert self.provider is not None
        return ConsoleClient(self.gateway_url, self.provider)

    def all_logs(self) -> str:
        """Everything every process wrote, for no-leak checks."""
        return "\n".join(p.read_text(errors="replace") for p in self.logs.rglob("*.log"))

    def scrape(self, name: str) -> str:
        """The Prometheus text one process serves now (`campaigns2`: the second replica)."""
        with urllib.request.urlopen(self.metrics_urls[name], timeout=10) as reply:
            return str(reply.read().decode())

    def wait_settled(self, token: str, campaign_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """Polls a campaign until no recipient is pending (sent, decided or deferred)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.api.call("GET", f"/v1/campaigns/{campaign_id}", token)
            assert reply.status == 200, reply.text
            campaign: dict[str, Any] = reply.json
            counts = campaign["outcome_counts"]
            if campaign["status"] == "done" or (counts and not counts.get("pending")):
                return campaign
            if time.monotonic() > deadline:
                raise TimeoutError(f"campaign still {campaign['status']}: {counts}")
            time.sleep(0.2)

    def wait_done(self, token: str, campaign_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """Polls a campaign until it is done; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.api.call("GET", f"/v1/campaigns/{campaign_id}", token)
            assert reply.status == 200, reply.text
            campaign: dict[str, Any] = reply.json
            if campaign["status"] == "done":
                return campaign
            if time.monotonic() > deadline:
                raise TimeoutError(f"campaign still {campaign['status']}: {campaign}")
            time.sleep(0.2)
