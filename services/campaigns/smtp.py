"""Handing mails to the SMTP relay, and telling a refusal from a mail in doubt.

Errors raised here name SMTP reply codes, never an address.

Once the end of DATA (the final ".") is sent, the relay has the whole mail and
may deliver it whatever happens to its reply (RFC 1047). A reply lost after that
point (timeout, connection closed, unreadable reply) is ReplyLost: the mail is in
doubt and must never be sent again. Any failure before that point is a refusal
(PermanentFailure, TemporaryFailure) and no copy can have been delivered.

Connections are pooled per process and kept open across batches (SmtpRelay);
a session whose connection was lost opens a new one at its next send.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Outgoing:
    """One mail as it goes on the wire: its envelope and the exact bytes (signed, with DKIM)."""

    mail_from: str
    rcpt_to: str
    data: bytes


class RelayUnavailable(TemporaryFailure):
    """No connection to the relay could be opened: nothing of this mail was attempted."""

    def __init__(self, code: int | None):
        super().__init__(code, connection_lost=True)
        self.args = (f"SMTP relay unreachable (code {code})",)


class SmtpRelay:
    """A pool of SMTP connections kept open and reused across batches.

    At most `pool_size` connections are open at once in this process; a session
    takes an idle one (checked with NOOP: the relay may have closed it while idle)
    or opens one, and puts it back afterwards while it still works. Dispatch
    threads beyond the pool size wait for a free connection.
    """

    def __init__(self, settings: SmtpSettings, pool_size: int = 1):
        self._settings = settings
        self._slots = threading.BoundedSemaphore(pool_size)
        self._idle: list[smtplib.SMTP] = []  # last in, first out: the warmest first
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        """A session holding one pooled connection until exit.

        The connection opens at the first send when none is idle; sending then
        raises RelayUnavailable when the relay is away.
        """
        self._slots.acquire()
        session = SmtpSession(self._settings, self._take_idle())
        try:
            yield session
        finally:
            kept = session.detach()
            with self._lock:
                if kept is not None and not self._closed:
                    self._idle.append(kept)
                    kept = None
            if kept is not None:
                _quit(kept)
            self._slots.release()

    def close(self) -> None:
        """Says QUIT on every idle connection; sessions in use close theirs on exit."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            _quit(connection)

    def _take_idle(self) -> smtplib.SMTP | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            try:
                code, _ = connection.noop()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code == 250:
                return connection
            connection.close()


class SmtpSession:
    """Sends mails over one connection, opening a new one when the last was lost."""

    def __init__(self, settings: SmtpSettings, connection: smtplib.SMTP | None = None):
        self._settings = settings
        self._connection = connection

    def send(self, mail: Outgoing) -> None:
        """Hands one mail over; raises PermanentFailure (5xx), TemporaryFailure or ReplyLost.

        RelayUnavailable (a TemporaryFailure) means no connection could be opened.
        After a lost connection (ReplyLost, or TemporaryFailure with connection_lost),
        the next send opens a new one.
        """
        if self._connection is None:
            self._connection = _connect(self._settings)
        connection = self._connection
        try:
            refused = connection.sendmail(mail.mail_from, [mail.rcpt_to], mail.data)
        except _ReplyLostError:
            self._drop()
            raise ReplyLost() from None
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise self._refusal(codes[0] if codes else 550) from None
        except smtplib.SMTPResponseException as error:  # sender refused, data error, ...
            raise self._refusal(error.smtp_code) from None
        except (smtplib.SMTPException, OSError):  # before the end of DATA: nothing delivered
            self._drop()
            raise TemporaryFailure(None, connection_lost=True) from None
        if refused:  # one recipient per mail: a partial refusal is a refusal
            code = next(iter(refused.values()))[0]
            raise self._refusal(code)

    def detach(self) -> smtplib.SMTP | None:
        """The connection, when it still works; the session holds none afterwards."""
        connection, self._connection = self._connection, None
        if connection is not None and connection.sock is None:
            return None
        return connection

    def _refusal(self, code: int) -> Exception:
        failure = _failure(code, connection_lost=False)
        if isinstance(failure, TemporaryFailure) and failure.connection_lost:
            self._drop()  # 421: the relay closes this connection
        elif self._connection is not None and self._connection.sock is None:
            self._connection = None  # smtplib closed it itself
        return failure

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


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
        raise RelayUnavailable(error.smtp_code) from None
    except (smtplib.SMTPException, OSError):
        raise RelayUnavailable(None) from None


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
