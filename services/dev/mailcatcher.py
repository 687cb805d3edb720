"""A local SMTP server that writes every message it receives to a folder as .eml files.

It stands for the relay's far side on a developer's machine: mail is caught,
never delivered, and a newcomer can open each file in any mail reader.
"""

from __future__ import annotations

import logging
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)


class FolderHandler:
    """aiosmtpd handler: one .eml file per accepted message."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        log.info("caught a message for %d recipient(s) in %s", len(envelope.rcpt_tos), path.name)
        return "250 Message accepted for delivery"


class QuietStartProbe(logging.Filter):
    """Drops aiosmtpd's lines about the connection its Controller opens to test itself.

    aiosmtpd (logger `mail.log`) logs every connection at INFO, shown only when third-party
    logging is on; even then, the start-up self-test is not a visitor worth a line.
    """

    def __init__(self) -> None:
        super().__init__()
        self.starting = True
        self._probe_peers: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.starting:
            if record.msg == "Peer: %r" and record.args:
                self._probe_peers.add(repr(record.args[0]))  # type: ignore[index]
            return False
        message = record.getMessage()
        return not any(peer in message for peer in self._probe_peers)


def start(host: str, port: int, folder: Path) -> Controller:
    """Starts the catcher in a background thread; call .stop() on the result."""
    controller = Controller(FolderHandler(folder), hostname=host, port=port)
    quiet = QuietStartProbe()
    smtp_log = logging.getLogger("mail.log")
    if not any(isinstance(f, QuietStartProbe) for f in smtp_log.filters):
        smtp_log.addFilter(quiet)
    try:
        controller.start()
    finally:
        quiet.starting = False
    return controller


def run_forever(host: str, port: int, folder: str) -> None:
    """Runs the catcher until SIGTERM or SIGINT."""
    stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: stop.append(signum))  # no lock in a handler
    try:
        controller = start(host, port, Path(folder))
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", host, port, error.strerror or error)
        raise SystemExit(1) from None
    log.info("ready on %s:%d, writing each mail into %s", host, port, folder)
    while not stop:
        time.sleep(0.2)
    controller.stop()
