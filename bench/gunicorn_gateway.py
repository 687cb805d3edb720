"""The gateway served by gunicorn, for bench/gateway.py to compare with waitress.

Not how the mesh serves it: measured on the 2-core machine, gunicorn did not do
clearly better than waitress (the contacts service bounds the read rate), so
`crm serve gateway` keeps waitress and gunicorn is a development dependency only.

waitress runs every request in one process, so the Flask handling, token checks and
JSON of all requests share one interpreter lock and one core. gunicorn forks
`workers` processes that share the `GATEWAY_THREADS` threads among them, so the
work spreads over the machine's cores while as many calls as under waitress go
upstream at once (bench/gateway.py measures both). Each worker builds its own app
after the fork: gRPC channels must not cross a fork.

    python -m bench.gunicorn_gateway [--workers N]   # GATEWAY_* settings, like `crm serve`
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from meshkit.grpc_server import address_in_use
from services.gateway.bootstrap import build
from services.gateway.clients import EXTENSION as CLIENTS
from services.gateway.clients import Clients
from services.gateway.settings import GatewaySettings

# Under the gateway's name, not __main__: the mesh's logging shows its loggers' INFO.
log = logging.getLogger("services.gateway.gunicorn")

GRACE_SECONDS = 10  # a stopped worker's time to finish its requests (crm serve's bound)


def default_workers() -> int:
    """One worker process per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class MeshLogger(glogging.Logger):
    """gunicorn's own lines through the mesh's logging: its format, libraries' INFO hidden."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True
            logger.setLevel(logging.NOTSET)  # the root's level: CRM_LOG_THIRD_PARTY decides


class GatewayServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn in this process, configured from the gateway's settings, not its command line."""

    def __init__(self, settings: GatewaySettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        super().__init__()

    def load_config(self) -> None:
        listen = self.settings.listen
        options: dict[str, Any] = {
            "bind": [listen],
            "workers": self.workers,
            "worker_class": "gthread",
            # GATEWAY_THREADS stays the gateway's whole concurrency, shared by the workers:
            # more calls at once upstream would overflow the services' database pools.
            "threads": max(1, self.settings.threads // self.workers),
            "graceful_timeout": GRACE_SECONDS,
            "logger_class": MeshLogger,
            "accesslog": None,
            "when_ready": lambda _arbiter: log.info("ready on %s", listen),
            "worker_exit": lambda _arbiter, worker: _close(worker.wsgi),
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return build(self.settings)


def _close(app: Flask | None) -> None:
    """Closes a worker's gRPC channels as it exits."""
    if app is not None:
        clients: Clients = app.extensions[CLIENTS]
        clients.close()


def serve(settings: GatewaySettings, workers: int | None = None) -> None:
    """Serves the gateway with gunicorn until SIGTERM (graceful) or SIGINT (quick)."""
    why = address_in_use(settings.listen)
    if why is not None:
        log.error("cannot listen on %s: %s", settings.listen, why)
        raise SystemExit(1)
    GatewayServer(settings, workers or default_workers()).run()


def main() -> None:
    """Reads GATEWAY_* settings and serves the gateway with gunicorn."""
    from meshkit.logs import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    configure_logging("gateway")
    serve(GatewaySettings(), args.workers)  # type: ignore[call-arg]  # from the environment


if __name__ == "__main__":
    main()
