"""Composition root of the gateway: `crm serve gateway` runs main()."""

from __future__ import annotations

import logging

from flask import Flask

from meshkit.metrics import serve_metrics
from services.gateway.app import create_app
from services.gateway.clients import EXTENSION as CLIENTS
from services.gateway.clients import Clients
from services.gateway.settings import GatewaySettings
from services.gateway.wsgi_limits import serve

log = logging.getLogger(__name__)


def build(settings: GatewaySettings) -> Flask:
    """The app with its gRPC channels; nothing connects until the first request."""
    return create_app(settings)


def main() -> None:
    """Reads GATEWAY_* settings and serves the app with waitress until SIGTERM or Ctrl-C.

    Waitress has the settings' size limits and answers its own refusals in problem+json.

    `crm` turns the first SIGTERM or SIGINT into SystemExit, on which waitress closes its
    sockets and returns; a later signal is ignored while it does.
    """
    settings = GatewaySettings()  # type: ignore[call-arg]  # read from the environment
    app = build(settings)
    try:
        server = serve(app, settings)
    except OSError as error:
        log.error("cannot listen on %s: %s", settings.listen, error.strerror or error)
        raise SystemExit(1) from None
    serve_metrics(settings.metrics_listen)
    log.info("ready on %s", settings.listen)
    try:
        server.run()
    finally:
        clients: Clients = app.extensions[CLIENTS]
        clients.close()


def migrate_only() -> None:
    """The gateway holds no data: there is nothing to migrate."""
