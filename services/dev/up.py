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
from pathlib import Path

from meshkit.identity import generate_dev_keys
from meshkit.settings import crm_home, dev_private_key, dev_public_key, dev_unsubscribe_secret
from services.dev.health import wait_grpc, wait_http

SERVICES = {
    "contacts": "127.0.0.1:50051",
    "consent": "127.0.0.1:50052",
    "campaigns": "127.0.0.1:50053",
}
GATEWAY = "http://127.0.0.1:8080"
SMTP_PORT = 8025


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services.cli", *args], env=env)


def run_mesh(mail_dir: str | None = None) -> None:
    """Starts the catcher and the four services, waits for health, runs until Ctrl-C."""
    home = crm_home()
    mail = Path(mail_dir).resolve() if mail_dir else home / "mail"
    generate_dev_keys(dev_private_key(), dev_public_key())
    dev_unsubscribe_secret()
    env = {**os.environ, "CRM_HOME": str(home)}
    processes = [_spawn(["mailcatcher", "--port", str(SMTP_PORT), "--dir", str(mail)], env)]
    try:
        for name, target in SERVICES.items():
            processes.append(_spawn(["serve", name], env))
            wait_grpc(target)
        processes.append(_spawn(["serve", "gateway"], env))
        wait_http(f"{GATEWAY}/healthz")
        print(_banner(home, mail), flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
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


def _banner(home: Path, mail: Path) -> str:
    return f"""
The mesh is up.
  gateway (REST, OpenAPI at /openapi.json): {GATEWAY}
  contacts, consent, campaigns (gRPC):      {", ".join(SERVICES.values())}
  local state (SQLite files, dev keys):     {home}
  caught mail (one .eml file per message):  {mail}
Mint a token:  crm token --sub admin --role admin
Press Ctrl-C to stop.
"""
