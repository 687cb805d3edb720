"""A local SMTP server that writes every message it receives to a folder as .eml files.

It stands for the relay's far side on a developer's machine: mail is caught,
never delivered, and a newcomer can open each file in any mail reader.
"""

from __future__ import annotations

import logging
import threading
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


def start(host: str, port: int, folder: Path) -> Controller:
    """Starts the catcher in a background thread; call .stop() on the result."""
    controller = Controller(FolderHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


def run_forever(host: str, port: int, folder: str) -> None:
    """Runs the catcher until the process is interrupted."""
    controller = start(host, port, Path(folder))
    log.info("catching mail on %s:%d into %s", host, port, folder)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
