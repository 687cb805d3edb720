"""One logging set-up for every process of the mesh: `crm serve <name>`, the catcher, `crm up`.

Each line names the process that wrote it, then the logger:
`2026-01-05 10:00:00,123 contacts    INFO    meshkit.grpc_server: ready on 127.0.0.1:50051`.
The mesh's own loggers (meshkit.*, services.*) log at CRM_LOG_LEVEL (INFO); libraries
(alembic, aiosmtpd, waitress, apscheduler, grpc...) show only their warnings and errors
unless CRM_LOG_THIRD_PARTY is true.
"""

from __future__ import annotations

import logging
import sys

from meshkit.settings import LogSettings

OWN_LOGGERS = ("meshkit", "services")
NAME_WIDTH = len("mailcatcher")


def configure_logging(process_name: str, settings: LogSettings | None = None) -> None:
    """Sends every log line to stderr, tagged with `process_name`; call once, at start."""
    settings = settings or LogSettings()
    level = logging.getLevelName(settings.level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s {process_name:<{NAME_WIDTH}} %(levelname)-7s %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if settings.third_party else max(level, logging.WARNING))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
