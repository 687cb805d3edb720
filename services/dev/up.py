"""`crm up`: the whole mesh on one machine, on embedded defaults.

SQLite files and the development keys live under CRM_HOME (default ./.crm),
campaigns keeps its pressure counters in an in-process Redis-compatible store,
and mail is caught into CRM_HOME/mail. Each service is a separate process
started the same way as in production: `crm serve <name>`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from meshkit.identity import generate_dev_keys
from meshkit.settings import crm_home, dev_private_key, dev_public_key, dev_unsubscribe_secret
from services.dev.health import wait_grpc, wait_http


@dataclass(frozen=True)
class Ports:
    """Where each part listens; the defaults are those of the services' settings."""

    gateway: int = 8080
    contacts: int = 50051
    consent: int = 50052
    campaigns: int = 50053
    smtp: int = 8025

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(base, base + 1, base + 2, base + 3, base + 4)

    def env(self) -> dict[str, str]:
        """Settings that make the services find each other on these ports."""
        local = "127.0.0.1"
        return {
            "CONTACTS_LISTEN": f"{local}:{self.contacts}",
            "CONSENT_LISTEN": f"{local}:{self.consent}",
            "CONSENT_CONTACTS_TARGET": f"{local}:{self.contacts}",
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
        }


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services.cli", *args], env=env)


def run_mesh(mail_dir: str | None = None, port_base: int | None = None) -> None:
    """Starts the catcher and the four services, waits for health, runs until stopped."""
    home = crm_home()
    mail = Path(mail_dir).resolve() if mail_dir else home / "mail"
    ports = Ports.from_base(port_base) if port_base else Ports()
    generate_dev_keys(dev_private_key(), dev_public_key())
    dev_unsubscribe_secret()
    env = {**os.environ, "CRM_HOME": str(home), **ports.env()}
    processes = [_spawn(["mailcatcher", "--port", str(ports.smtp), "--dir", str(mail)], env)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for name in ("contacts", "consent", "campaigns"):
            processes.append(_spawn(["serve", name], env))
            wait_grpc(f"127.0.0.1:{getattr(ports, name)}")
        processes.append(_spawn(["serve", "gateway"], env))
        wait_http(f"http://127.0.0.1:{ports.gateway}/healthz")
        print(_banner(home, mail, ports), flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("a service stopped; shutting the mesh down", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def _banner(home: Path, mail: Path, ports: Ports) -> str:
    return f"""
The mesh is up.
  gateway (REST, OpenAPI at /openapi.json): http://127.0.0.1:{ports.gateway}
  contacts, consent, campaigns (gRPC): {ports.contacts}, {ports.consent}, {ports.campaigns}
  local state (SQLite files, dev keys):     {home}
  caught mail (one .eml file per message):  {mail}
Mint a token:  crm token --sub admin@grouping --role admin
Press Ctrl-C to stop.
"""
