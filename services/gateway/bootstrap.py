"""Composition root of the gateway: `crm serve gateway` runs main()."""

from __future__ import annotations

import signal
import sys

from flask import Flask

from services.gateway.app import create_app
from services.gateway.clients import EXTENSION as CLIENTS
from services.gateway.clients import Clients
from services.gateway.settings import GatewaySettings


def build(settings: GatewaySettings) -> Flask:
    """The app with its gRPC channels; nothing connects until the first request."""
    return create_app(settings)


def main() -> None:
    """Reads GATEWAY_* settings and serves the app with waitress until SIGTERM or Ctrl-C."""
    from waitress import serve

    settings = GatewaySettings()  # type: ignore[call-arg]  # read from the environment
    app = build(settings)
    # waitress closes its sockets on SystemExit; the default SIGTERM would just kill it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(app, listen=settings.listen, threads=settings.threads)
    finally:
        clients: Clients = app.extensions[CLIENTS]
        clients.close()


def migrate_only() -> None:
    """The gateway holds no data: there is nothing to migrate."""
