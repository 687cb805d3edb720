"""Handing mails to the SMTP relay, and telling a refusal from a mail in doubt.

Errors raised here name SMTP reply codes, never an address.

Once the end of DATA (the final ".") is sent, the relay has the whole mail and
may deliver it whatever happens to its reply (RFC 1047). A reply lost after that
point (timeout, connection closed, unreadable reply) is ReplyLost: the mail is in
doubt and must never be sent again. Any failure before that point is a refusal
(PermanentFailure, TemporaryFailure) and no copy can have been delivered.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from services.campaigns.policy import is_permanent_smtp_failure

if TYPE_CHECKING:
    from typing_extensions import Buffer


class TemporaryFailure(Exception):
    """The relay could not take the mail now (4xx, network): try again later."""

    def __init__(self, code: int | None, connection_lost: bool):
        super().__init__(f"temporary SMTP failure (code {code})")
        self.code = code
        self.connection_lost = connection_lost


class PermanentFailure(Exception):
    """The relay refused the mail for good (5xx)."""

    def __init__(self, code: int):
        super().__init__(f"permanent SMTP failure (code {code})")
        self.code = code


class ReplyLost(Exception):
    """The relay had the whole mail (end of DATA sent) but its reply never came.

    The mail may have been delivered: never send it again. The connection is closed.
    """

    def __init__(self) -> None:
        super().__init__("SMTP reply lost after the end of DATA")


class _ReplyLostError(smtplib.SMTPException):
    """Raised inside smtplib's send_message, where only SMTPException is expected."""


class _TrackedSMTP(smtplib.SMTP):
    """smtplib.SMTP whose DATA tells a refusal from a reply lost after the final ".".

    smtplib's own data() writes the payload and the final "." then reads the reply,
    and raises the same exceptions whether the connection broke before or after
    the final "." left: this one raises _ReplyLostError for the latter.
    """

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        self.send(_dot_terminated(msg))  # raises (no end of DATA sent) unless all was sent
        try:
            code, reply = self.getreply()
        except (smtplib.SMTPException, OSError):  # timeout, closed, over-long line
            self.close()
            raise _ReplyLostError() from None
        if 200 <= code <= 299:
            return 250, reply  # any positive completion: the relay took the mail
        if 400 <= code <= 599:
            return code, reply  # a refusal: the relay did not take it
        self.close()  # no reply that says either: the mail may have been taken
        raise _ReplyLostError()


def _dot_terminated(msg: Buffer | str) -> bytes:
    """The DATA payload as smtplib sends it: dot-stuffed, ending with CRLF "." CRLF."""
    if isinstance(msg, str):
        msg = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii")
    data = re.sub(rb"(?m)^\.", b"..", bytes(msg))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    timeout_seconds: float


class SmtpRelay:
    """Opens one SMTP connection per batch and sends mails through it."""

    def __init__(self, settings: SmtpSettings):
        self._settings = settings

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        """A connected session, closed on exit; TemporaryFailure when the relay is away."""
        connection = _connect(self._settings)
        try:
            yield SmtpSession(connection)
        finally:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()


class SmtpSession:
    def __init__(self, connection: smtplib.SMTP):
        self._connection = connection

    def send(self, message: EmailMessage) -> None:
        """Hands one mail over; raises PermanentFailure (5xx), TemporaryFailure or ReplyLost."""
        try:
            refused = self._connection.send_message(message)
        except _ReplyLostError:
            raise ReplyLost() from None
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise _failure(codes[0] if codes else 550, connection_lost=False) from None
        except smtplib.SMTPResponseException as error:  # sender refused, data error, ...
            raise _failure(error.smtp_code, connection_lost=False) from None
        except (smtplib.SMTPException, OSError):
            raise TemporaryFailure(None, connection_lost=True) from None
        if refused:  # one recipient per mail: a partial refusal is a refusal
            code = next(iter(refused.values()))[0]
            raise _failure(code, connection_lost=False)


def _failure(code: int, connection_lost: bool) -> Exception:
    if is_permanent_smtp_failure(code):
        return PermanentFailure(code)
    # 421: the relay is closing the connection (RFC 5321 3.8).
    return TemporaryFailure(code, connection_lost or code == 421)


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    try:
        connection = _TrackedSMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        if settings.starttls:
            connection.starttls(context=ssl.create_default_context())
        if settings.username:
            connection.login(settings.username, settings.password or "")
        return connection
    except smtplib.SMTPResponseException as error:
        raise TemporaryFailure(error.smtp_code, connection_lost=True) from None
    except (smtplib.SMTPException, OSError):
        raise TemporaryFailure(None, connection_lost=True) from None
