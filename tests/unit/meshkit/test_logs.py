"""One logging set-up for every process: its name on each line, third-party chatter on demand,
JSON lines when asked, the request id, and no address or token in any line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.logs import JsonFormatter, Redact, TextFormatter, WithRequestId, redact
from meshkit.request_id import bind_request_id, unbind_request_id

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


# In process: the formatters and filters configure_logging puts on its handler.


def _emit(formatter: logging.Formatter, message: str, *args: object, error: bool = False) -> str:
    """What one record from `services.campaigns.dispatch` becomes on the handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(WithRequestId())
    handler.addFilter(Redact())
    exc_info = None
    if error:
        try:
            raise ValueError("no reply from marie.curie@example.org")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord(
        "services.campaigns.dispatch", logging.WARNING, __file__, 1, message, args, exc_info
    )
    handler.handle(record)
    return stream.getvalue()


def test_json_lines_hold_time_level_service_logger_message_and_request_id() -> None:
    binding = bind_request_id("req-7")
    try:
        output = _emit(JsonFormatter("campaigns"), "campaign %s: %d deferred", "c-1", 3)
    finally:
        unbind_request_id(binding)
    assert output.count("\n") == 1  # one object, one line
    line = json.loads(output)
    assert line["level"] == "WARNING"
    assert line["service"] == "campaigns"
    assert line["logger"] == "services.campaigns.dispatch"
    assert line["message"] == "campaign c-1: 3 deferred"
    assert line["request_id"] == "req-7"
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)


def test_json_lines_without_a_request_have_no_request_id_and_carry_the_exception() -> None:
    line = json.loads(_emit(JsonFormatter("campaigns"), "send failed", error=True))
    assert "request_id" not in line
    assert "ValueError" in line["exception"] and "Traceback" in line["exception"]


def test_a_message_that_spans_lines_stays_one_json_line() -> None:
    output = _emit(JsonFormatter("gateway"), "first\nsecond\r\nthird")
    assert output.count("\n") == 1
    assert json.loads(output)["message"] == "first\nsecond\r\nthird"


def test_text_lines_show_the_request_id_after_the_logger() -> None:
    binding = bind_request_id("req-8")
    try:
        output = _emit(TextFormatter("campaigns"), "campaign %s done", "c-2")
    finally:
        unbind_request_id(binding)
    assert output.rstrip().endswith("services.campaigns.dispatch: [req-8] campaign c-2 done")


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize("formatter", [JsonFormatter("gateway"), TextFormatter("gateway")])
def test_addresses_and_tokens_are_masked_in_every_format(formatter: logging.Formatter) -> None:
    output = _emit(
        formatter,
        "to %s with Authorization: Bearer %s, then %s",
        "jean.dupont@univ-exemple.fr",
        "opaque-token_123",
        JWT,
        error=True,
    )
    for secret in ("jean.dupont@univ-exemple.fr", "opaque-token_123", JWT, "marie.curie@"):
        assert secret not in output
    assert "[email]" in output and "Bearer [token]" in output and "[jwt]" in output


@given(st.emails(), st.text(alphabet=" ,;:<>()[]\"'\n", max_size=3))
def test_no_address_survives_redaction(address: str, around: str) -> None:
    assert address not in redact(f"sent to{around}{address}{around}today")
