"""One logging set-up for every process: its name on each line, third-party chatter on demand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SPEAK = """
import logging
from meshkit.logs import configure_logging
configure_logging("contacts")
logging.getLogger("alembic.runtime.migration").info("third-party info")
logging.getLogger("mail.log").info("aiosmtpd info")
logging.getLogger("waitress").warning("third-party warning")
logging.getLogger("meshkit.grpc_server").info("our info")
logging.getLogger("services.contacts.service").debug("our debug")
"""


def _lines(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    result = subprocess.run(
        [sys.executable, "-c", SPEAK],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stderr.splitlines()


def _said(lines: list[str], message: str) -> bool:
    return any(line.endswith(message) for line in lines)


def test_by_default_only_our_info_and_everyones_warnings_show() -> None:
    lines = _lines()
    assert _said(lines, "our info")
    assert _said(lines, "third-party warning")
    assert not _said(lines, "third-party info")
    assert not _said(lines, "aiosmtpd info")
    assert not _said(lines, "our debug")


def test_every_line_carries_the_service_name_and_the_logger() -> None:
    (line,) = [line for line in _lines() if line.endswith("our info")]
    assert " contacts " in line
    assert " INFO " in line
    assert "meshkit.grpc_server: our info" in line


def test_the_third_party_setting_turns_their_info_on() -> None:
    lines = _lines(CRM_LOG_THIRD_PARTY="true")
    assert _said(lines, "third-party info")
    assert _said(lines, "aiosmtpd info")
    assert _said(lines, "our info")


def test_the_level_setting_applies_to_our_own_lines() -> None:
    lines = _lines(CRM_LOG_LEVEL="DEBUG")
    assert _said(lines, "our debug")
    assert not _said(lines, "third-party info")
    assert not _said(_lines(CRM_LOG_LEVEL="WARNING"), "our info")
