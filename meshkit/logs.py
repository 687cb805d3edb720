"""One logging set-up for every process of the mesh: `crm serve <name>`, the catcher, `crm up`.

Each line names the process that wrote it, then the logger, then the request id
in brackets when one is bound (meshkit.request_id):
`2026-01-05 10:00:00,123 contacts    INFO    meshkit.grpc_server: [4f1c...] message`.
With CRM_LOG_FORMAT=json each line is one JSON object instead (time, level, service,
logger, message, request_id, exception), for a log collector.
The mesh's own loggers (meshkit.*, services.*) log at CRM_LOG_LEVEL (INFO); libraries
(alembic, aiosmtpd, waitress, apscheduler, grpc...) show only their warnings and errors
unless CRM_LOG_THIRD_PARTY is true.

Whatever the format, every line goes through `Redact`: an email address, a bearer
token or anything shaped like a JWT is masked. The code logs ids, not such values;
this is the second line of defence (a library's message, an exception's text).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from meshkit.request_id import current_request_id
from meshkit.settings import LogSettings

OWN_LOGGERS = ("meshkit", "services")
NAME_WIDTH = len("mailcatcher")

# The local part as RFC 5322 allows it unquoted (atext and dots), then a dotted domain.
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_BEARER = re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+")
_JWT = re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*")


def redact(text: str) -> str:
    """`text` with email addresses, bearer tokens and JWT-looking strings masked."""
    text = _BEARER.sub("Bearer [token]", text)
    text = _JWT.sub("[jwt]", text)
    return _EMAIL.sub("[email]", text)


class Redact(logging.Filter):
    """Masks personal data and credentials in a record's message and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class WithRequestId(logging.Filter):
    """Puts the request id bound in the logging thread's context on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class TextFormatter(logging.Formatter):
    """`time process LEVEL logger: [request id] message`, the id only when one is bound."""

    def __init__(self, process_name: str):
        super().__init__(f"%(asctime)s {process_name:<{NAME_WIDTH}} %(levelname)-7s %(where)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.where = (
            f"{record.name}: [{request_id}] {record.getMessage()}"
            if request_id
            else f"{record.name}: {record.getMessage()}"
        )
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, request_id, exception."""

    def __init__(self, process_name: str):
        super().__init__()
        self._service = process_name

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # ensure_ascii: one physical line whatever the message holds (no raw control bytes).
        return json.dumps(line, ensure_ascii=True)


def configure_logging(process_name: str, settings: LogSettings | None = None) -> None:
    """Sends every log line to stderr, tagged with `process_name`; call once, at start."""
    settings = settings or LogSettings()
    level = logging.getLevelName(settings.level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter(process_name) if settings.format == "json" else TextFormatter(process_name)
    )
    handler.setFormatter(formatter)
    # On the handler, not a logger: records of every logger pass here, libraries' too.
    handler.addFilter(WithRequestId())
    handler.addFilter(Redact())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if settings.third_party else max(level, logging.WARNING))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
