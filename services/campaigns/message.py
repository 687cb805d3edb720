"""Building a campaign or transactional mail: headers, body, the unsubscribe footer.

A mail carries the rendered subject and body, the recipient's address and
nothing else of the contact: the unsubscribe token names only opaque ids. A
campaign mail is multipart/alternative, text and HTML (the campaign's HTML, or
one made from the text: escaped, in paragraphs), and both parts end with a
footer (French, English) that shows the one-click unsubscribe link, the very
URL of the List-Unsubscribe header, and the link to the person's preference
page, a PersonLinks PREFERENCES token naming the contact and the campaign.

`outgoing` serialises a mail once, with CRLF line ends, and signs those bytes
with DKIM when a key is configured: what the relay gets is what was signed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid, parseaddr
from html import escape

from meshkit.links import LinkKind, PersonLinks
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from services.campaigns.signing import DkimSigner
from services.campaigns.smtp import Outgoing

# Header lines may reach RFC 5322's 998 characters: folded at 78, the long unsubscribe
# link would be turned into RFC 2047 encoded words, which mail clients do not follow.
MAIL_POLICY = default_policy.clone(max_line_length=998)
# What goes on the wire (and is signed): the same, with SMTP's line ends.
WIRE_POLICY = MAIL_POLICY.clone(linesep="\r\n")


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
_UNSUBSCRIBE_FR = "Se désinscrire en un clic"
_UNSUBSCRIBE_EN = "Unsubscribe in one click"
_PARAGRAPHS = re.compile(r"\n[ \t]*\n+")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def text_to_html(text: str) -> str:
    """An HTML body saying what `text` says: escaped, blank lines part paragraphs."""
    paragraphs = [p.strip("\n") for p in _PARAGRAPHS.split(text.replace("\r\n", "\n"))]
    return "\n".join(
        "<p>" + "<br>\n".join(escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p.strip()
    )


def text_footer(unsubscribe_url: str, preferences_url: str) -> str:
    """The signature block ("-- ") of a campaign mail's text part."""
    return (
        "-- \n"
        f"{_UNSUBSCRIBE_FR} : {unsubscribe_url}\n"
        f"{_UNSUBSCRIBE_EN}: {unsubscribe_url}\n"
        f"{_PREFERENCES_FR} : {preferences_url}\n"
        f"{_PREFERENCES_EN}: {preferences_url}\n"
    )


def html_footer(unsubscribe_url: str, preferences_url: str) -> str:
    """The same links, visible in the HTML part."""
    unsubscribe = f'<a href="{escape(unsubscribe_url)}">{{}}</a>'
    preferences = f'<a href="{escape(preferences_url)}">{{}}</a>'
    return (
        '<hr>\n<p style="font-size:small">'
        f"{unsubscribe.format(_UNSUBSCRIBE_FR)} · {preferences.format(escape(_PREFERENCES_FR))}"
        f"<br>\n{unsubscribe.format(_UNSUBSCRIBE_EN)} · {preferences.format(_PREFERENCES_EN)}"
        "</p>\n"
    )


def _with_footer(html: str, footer: str) -> str:
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return f"{html}\n{footer}"
    at = ends[-1].start()
    return f"{html[:at]}{footer}{html[at:]}"


def _html_document(subject: str, content: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n<body>\n{content}\n</body></html>\n"
    )


class MailFactory:
    """Turns a rendered mail for one delivery into an RFC 5322 message."""

    def __init__(
        self,
        letterhead: Letterhead,
        tokens: UnsubscribeTokens,
        links: PersonLinks | None = None,
        signer: DkimSigner | None = None,
    ):
        self._letterhead = letterhead
        self._tokens = tokens
        self._links = links
        self._signer = signer
        self._envelope_from = parseaddr(letterhead.mail_from)[1]

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

        Campaign mail (`preferences` given, with `unsubscribe`) is text and HTML, both
        ending with the visible unsubscribe and preference links; `html` is its HTML
        body, already rendered with escaped merge values, or empty to make one from
        the text. A transactional mail has the unsubscribe headers only when its
        sender asks, and HTML when it gives one. `headers` are extra ones the caller
        checked.
        """
        unsubscribe_url = ""
        message = EmailMessage(policy=MAIL_POLICY)
        message["From"] = self._letterhead.mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id
        if unsubscribe is not None:
            token = self._tokens.sign(unsubscribe)
            unsubscribe_url = f"{self._letterhead.public_base_url.rstrip('/')}/unsubscribe/{token}"
            mailto = f"mailto:{self._letterhead.unsubscribe_mailto}?subject=unsubscribe-{token}"
            message["List-Unsubscribe"] = f"<{unsubscribe_url}>, <{mailto}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if preferences is not None:
            preferences_url = self.preferences_url(preferences)
            if not unsubscribe_url:
                raise ValueError("a campaign mail needs its unsubscribe link")
            if html:
                html = _with_footer(html, html_footer(unsubscribe_url, preferences_url))
            else:
                footer = html_footer(unsubscribe_url, preferences_url)
                html = _html_document(subject, f"{text_to_html(body)}\n{footer}")
            ended = body if body.endswith("\n") else body + "\n"
            body = f"{ended}\n{text_footer(unsubscribe_url, preferences_url)}"
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
        return message

    def outgoing(self, message: EmailMessage) -> Outgoing:
        """The mail as the relay gets it: envelope, bytes serialised once, DKIM-signed."""
        data = message.as_bytes(policy=WIRE_POLICY)
        if self._signer is not None:
            data = self._signer.sign(data)
        return Outgoing(self._envelope_from, parseaddr(str(message["To"]))[1], data)

    def preferences_url(self, link: PreferencesLink) -> str:
        """`<public base URL>/preferences/<token>`, the token naming contact and campaign."""
        if self._links is None:
            raise ValueError("this mail factory has no person-link secret to sign with")
        token = self._links.sign(LinkKind.PREFERENCES, link.contact_id, link.campaign_id)
        return f"{self._letterhead.public_base_url.rstrip('/')}/preferences/{token}"
