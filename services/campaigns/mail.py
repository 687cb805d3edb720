"""Building a campaign mail and handing it to the SMTP relay.

A mail carries the rendered subject and body, the recipient's address and
nothing else of the contact: the unsubscribe token names only opaque ids. A
campaign mail ends with a link (French, English) to the person's preference
page, a PersonLinks PREFERENCES token naming the contact and the campaign.
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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid, parseaddr
from html import escape
from typing import TYPE_CHECKING

from meshkit.links import LinkKind, PersonLinks
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from services.campaigns.policy import is_permanent_smtp_failure

if TYPE_CHECKING:
    from typing_extensions import Buffer

# Header lines may reach RFC 5322's 998 characters: folded at 78, the long unsubscribe
# link would be turned into RFC 2047 encoded words, which mail clients do not follow.
MAIL_POLICY = default_policy.clone(max_line_length=998)


@dataclass(frozen=True)
class Letterhead:
    """What every mail of this deployment shares: sender and unsubscribe addresses."""

    mail_from: str
    public_base_url: str
    unsubscribe_mailto: str

    @property
    def domain(self) -> str:
        return parseaddr(self.mail_from)[1].rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class PreferencesLink:
    """Whose preference page a mail links to, and the campaign that sent it."""

    contact_id: str
    campaign_id: str


_PREFERENCES_FR = "Vos préférences (ce que vous recevez, ou ne plus rien recevoir)"
_PREFERENCES_EN = "Your preferences (what you receive, or nothing more)"


class MailFactory:
    """Turns a rendered mail for one delivery into an RFC 5322 message."""

    def __init__(
        self, letterhead: Letterhead, tokens: UnsubscribeTokens, links: PersonLinks | None = None
    ):
        self._letterhead = letterhead
        self._tokens = tokens
        self._links = links

    def new_message_id(self) -> str:
        return make_msgid(domain=self._letterhead.domain)

    def build(
        self,
        *,
        to: str,
        subject: str,
        body: str,
        message_id: str,
        unsubscribe: UnsubscribeRequest | None,
        html: str = "",
        headers: Mapping[str, str] | None = None,
        preferences: PreferencesLink | None = None,
    ) -> EmailMessage:
        """The mail with Message-ID, Date and, when `unsubscribe` is given, RFC 8058 headers.

        Campaign mail always carries the unsubscribe headers and, with
        `preferences`, the footer link to the preference page; a transactional
        mail only when its sender asks. `headers` are extra ones the caller checked.
        """
        if preferences is not None:
            url = self.preferences_url(preferences)
            ended = body if body.endswith("\n") else body + "\n"
            body = f"{ended}\n-- \n{_PREFERENCES_FR} : {url}\n{_PREFERENCES_EN}: {url}\n"
            if html:
                link = f'<a href="{escape(url)}">{{}}</a>'
                html += f"<p>{link.format(_PREFERENCES_FR)}<br>{link.format(_PREFERENCES_EN)}</p>"

        message = EmailMessage(policy=MAIL_POLICY)
        message["From"] = self._letterhead.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id
        if unsubscribe is not None:
            token = self._tokens.sign(unsubscribe)
            url = f"{self._letterhead.public_base_url.rstrip('/')}/unsubscribe/{token}"
            mailto = f"mailto:{self._letterhead.unsubscribe_mailto}?subject=unsubscribe-{token}"
            message["List-Unsubscribe"] = f"<{url}>, <{mailto}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
        return message

    def preferences_url(self, link: PreferencesLink) -> str:
        """`<public base URL>/preferences/<token>`, the token naming contact and campaign."""
        if self._links is None:
            raise ValueError("this mail factory has no person-link secret to sign with")
        token = self._links.sign(LinkKind.PREFERENCES, link.contact_id, link.campaign_id)
        return f"{self._letterhead.public_base_url.rstrip('/')}/preferences/{token}"


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
