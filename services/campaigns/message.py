"""Building a campaign or transactional mail: headers, body, the preference-page footer.

A mail carries the rendered subject and body, the recipient's address and
nothing else of the contact: the unsubscribe token names only opaque ids. A
campaign mail ends with a link (French, English) to the person's preference
page, a PersonLinks PREFERENCES token naming the contact and the campaign.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid, parseaddr
from html import escape

from meshkit.links import LinkKind, PersonLinks
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens

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
