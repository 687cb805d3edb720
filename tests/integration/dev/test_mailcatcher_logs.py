"""The catcher keeps aiosmtpd's own start-up self-test out of the log, even with its INFO on."""

from __future__ import annotations

import logging
import smtplib
import time
from pathlib import Path

import pytest

from services.dev.mailcatcher import start
from tests.support.processes import free_port


def _smtp_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mail.log"]


def test_the_self_test_connection_is_not_logged_but_a_real_client_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mail.log")
    port = free_port()
    controller = start("127.0.0.1", port, tmp_path)
    try:
        time.sleep(0.5)  # the self-test's closing lines come from the server thread
        assert _smtp_lines(caplog) == []
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("a@example.org", ["b@example.org"], "Subject: hi\r\n\r\nhello\r\n")
        deadline = time.monotonic() + 10
        while not any("Peer" in line for line in _smtp_lines(caplog)):
            assert time.monotonic() < deadline, "a real client was not logged"
            time.sleep(0.05)
    finally:
        controller.stop()
    assert len(list(tmp_path.glob("*.eml"))) == 1
