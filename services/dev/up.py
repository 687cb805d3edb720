"""`crm up`: the whole mesh on one machine, on embedded defaults.

SQLite files and the development keys live under CRM_HOME (default ./.crm),
campaigns keeps its pressure counters in an in-process Redis-compatible store,
and mail is caught into CRM_HOME/mail. Each service is a separate process
started the same way as in production: `crm serve <name>`.

`crm up` is the only supervisor of its children: each runs in its own process group,
so a Ctrl-C reaches `crm up` alone, which stops the services one after the other
(gateway, campaigns, consent and contacts, the catcher), each with SIGTERM and, past
STOP_SECONDS, SIGKILL. A second signal hurries every child and shortens the wait.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meshkit.grpc_server import StopSignals, address_in_use
from meshkit.settings import crm_home, make_dev_keys
from services.dev.health import grpc_serving, http_ok

log = logging.getLogger(__name__)

START_SECONDS = 60.0  # for one service to answer its health check
STOP_SECONDS = 15.0  # for one group of services to exit after SIGTERM, before SIGKILL
HURRY_SECONDS = 3.0  # the same, after a second Ctrl-C or SIGTERM
PORT_COUNT = 10  # ports a mesh takes from --port-base N on: N to N+9


@dataclass(frozen=True)
class Ports:
    """Where each part listens; the defaults are those of the services' settings."""

    gateway: int = 8080
    contacts: int = 50051
    consent: int = 50052
    campaigns: int = 50053
    smtp: int = 8025
    inbound: int = 2525  # consent's endpoint for the mailto: of List-Unsubscribe
    # Each process's Prometheus endpoint (meshkit.metrics), on ports of their own.
    gateway_metrics: int = 9100
    contacts_metrics: int = 9101
    consent_metrics: int = 9102
    campaigns_metrics: int = 9103

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Ports N to N+9 (PORT_COUNT): the services first, their metrics endpoints last."""
        return cls(*range(base, base + PORT_COUNT))

    def metrics(self) -> dict[str, int]:
        """The metrics port of each service, by name."""
        return {
            "gateway": self.gateway_metrics,
            "contacts": self.contacts_metrics,
            "consent": self.consent_metrics,
            "campaigns": self.campaigns_metrics,
        }

    def named(self) -> dict[str, int]:
        """Each part's port, by the name it logs under."""
        return {
            "gateway": self.gateway,
            "contacts": self.contacts,
            "consent": self.consent,
            "campaigns": self.campaigns,
            "mailcatcher": self.smtp,
            "consent (unsubscribe mail)": self.inbound,
            **{f"{name} (metrics)": port for name, port in self.metrics().items()},
        }

    def env(self) -> dict[str, str]:
        """Settings that make the services find each other on these ports."""
        local = "127.0.0.1"
        return {
            "CONTACTS_LISTEN": f"{local}:{self.contacts}",
            "CONSENT_LISTEN": f"{local}:{self.consent}",
            "CONSENT_CONTACTS_TARGET": f"{local}:{self.contacts}",
            "CONSENT_INBOUND_LISTEN": f"{local}:{self.inbound}",
            "CONSENT_CAMPAIGNS_TARGET": f"{local}:{self.campaigns}",
            "CONSENT_PUBLIC_BASE_URL": f"http://{local}:{self.gateway}",
            "CONTACTS_CONSENT_TARGET": f"{local}:{self.consent}",
            "CAMPAIGNS_LISTEN": f"{local}:{self.campaigns}",
            "CAMPAIGNS_CONTACTS_TARGET": f"{local}:{self.contacts}",
            "CAMPAIGNS_CONSENT_TARGET": f"{local}:{self.consent}",
            "CAMPAIGNS_SMTP_HOST": local,
            "CAMPAIGNS_SMTP_PORT": str(self.smtp),
            "CAMPAIGNS_PUBLIC_BASE_URL": f"http://{local}:{self.gateway}",
            "GATEWAY_LISTEN": f"{local}:{self.gateway}",
            "GATEWAY_CONTACTS_TARGET": f"{local}:{self.contacts}",
            "GATEWAY_CONSENT_TARGET": f"{local}:{self.consent}",
            "GATEWAY_CAMPAIGNS_TARGET": f"{local}:{self.campaigns}",
            # Embedded defaults: the console offers the development sign-in.
            "GATEWAY_CONSOLE_DEV_LOGIN": "true",
            **{
                f"{name.upper()}_METRICS_LISTEN": f"{local}:{port}"
                for name, port in self.metrics().items()
            },
        }


class _Stopped(Exception):
    """A signal asked the mesh to stop while it was starting."""


class _StartFailed(Exception):
    """A service could not start; the message says which and why."""


class Mesh:
    """The children of `crm up`, started in order and stopped in the reverse order."""

    def __init__(self, env: dict[str, str], signals: StopSignals):
        self._env = env
        self._signals = signals
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str]) -> None:
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args],
            env=self._env,
            stdin=subprocess.DEVNULL,
            process_group=0,  # a terminal's Ctrl-C reaches `crm up` only; it stops the rest
        )

    def wait_ready(self, name: str, healthy: Callable[[], bool]) -> None:
        """Returns once `healthy()`; raises if a signal came or the child died or is late."""
        process = self.children[name]
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self._signals.count:
                raise _Stopped
            if process.poll() is not None:
                raise _StartFailed(f"{name} exited with code {process.returncode} while starting")
            if healthy():
                return
            if time.monotonic() > deadline:
                raise _StartFailed(f"{name} did not become healthy within {START_SECONDS:.0f}s")
            time.sleep(0.1)

    def watch(self) -> int:
        """Runs until a signal (returns 0) or until a child exits on its own (returns 1)."""
        while not self._signals.count:
            for name, process in self.children.items():
                if process.poll() is not None:
                    log.error("%s exited with code %s; stopping the mesh", name, process.returncode)
                    return 1
            time.sleep(0.2)
        return 0

    def stop(self) -> None:
        """Stops every child: SIGTERM group by group, SIGKILL for any that outstays its time."""
        stages = [["gateway"], ["campaigns"], ["consent", "contacts"], ["mailcatcher"]]
        hurried = False
        for stage in stages:
            stage = [name for name in stage if name in self.children]
            group = [self.children[name] for name in stage]
            for process in group:
                _signal(process, signal.SIGTERM)
            deadline = time.monotonic() + (HURRY_SECONDS if hurried else STOP_SECONDS)
            while any(p.poll() is None for p in group) and time.monotonic() < deadline:
                if not hurried and self._signals.count > 1:
                    hurried = True
                    log.info("stopping now: the services still running are cut short")
                    for process in self.children.values():
                        _signal(process, signal.SIGTERM)
                    deadline = min(deadline, time.monotonic() + HURRY_SECONDS)
                time.sleep(0.05)
            for name, late in zip(stage, group, strict=True):
                if late.poll() is None:
                    log.warning("%s did not stop in time; killing it", name)
                    late.kill()
        for process in self.children.values():
            process.wait()


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            pass  # it has just exited


def run_mesh(
    mail_dir: str | None = None, port_base: int | None = None, verbose: bool = False
) -> None:
    """Starts the catcher and the four services, waits for health, runs until stopped."""
    signals = StopSignals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    home = crm_home()
    mail = Path(mail_dir).resolve() if mail_dir else home / "mail"
    ports = Ports.from_base(port_base) if port_base is not None else Ports()
    taken = [
        f"{port} ({name}: {why})"
        for name, port in ports.named().items()
        if (why := address_in_use(f"127.0.0.1:{port}"))
    ]
    if taken:
        log.error(
            "cannot start, port already in use: %s. Is another `crm up` still running? "
            "Stop it, or choose other ports with --port-base N.",
            ", ".join(taken),
        )
        raise SystemExit(1)
    make_dev_keys()
    env = {**os.environ, "CRM_HOME": str(home), **ports.env()}
    if verbose:
        env["CRM_LOG_THIRD_PARTY"] = "true"
    mesh = Mesh(env, signals)
    code = 0
    try:
        mesh.start("mailcatcher", ["mailcatcher", "--port", str(ports.smtp), "--dir", str(mail)])
        for name in ("contacts", "consent", "campaigns"):
            mesh.start(name, ["serve", name])
            mesh.wait_ready(name, _grpc_check(f"127.0.0.1:{getattr(ports, name)}"))
        mesh.start("gateway", ["serve", "gateway"])
        healthz = f"http://127.0.0.1:{ports.gateway}/healthz"
        mesh.wait_ready("gateway", lambda: http_ok(healthz, 1.0))
        print(_banner(home, mail, ports), flush=True)
        code = mesh.watch()
    except _StartFailed as failure:
        log.error("%s; stopping the mesh", failure)
        code = 1
    except _Stopped:
        pass
    finally:
        if code == 0:
            log.info("stopping the mesh (Ctrl-C again to hurry)")
        mesh.stop()
    log.info("the mesh is stopped")
    if code:
        raise SystemExit(code)


def _grpc_check(target: str) -> Callable[[], bool]:
    return lambda: grpc_serving(target, 1.0)


def _metrics_ports(ports: Ports) -> str:
    return ", ".join(f"{name} {port}" for name, port in ports.metrics().items())


def _banner(home: Path, mail: Path, ports: Ports) -> str:
    return f"""
The mesh is up.
  gateway (REST, OpenAPI at /openapi.json): http://127.0.0.1:{ports.gateway}
  web console (development sign-in):        http://127.0.0.1:{ports.gateway}/console/
  contacts, consent, campaigns (gRPC): {ports.contacts}, {ports.consent}, {ports.campaigns}
  unsubscribe mail (SMTP, to unsubscribe@crm.localhost): 127.0.0.1:{ports.inbound}
  Prometheus metrics (http://127.0.0.1:PORT/metrics): {_metrics_ports(ports)}
  local state (SQLite files, dev keys):     {home}
  caught mail (one .eml file per message):  {mail}
Mint a token, from this folder or anywhere with CRM_HOME={home}:
  crm token --sub admin@grouping --role admin
Press Ctrl-C to stop (a second Ctrl-C hurries).
"""
