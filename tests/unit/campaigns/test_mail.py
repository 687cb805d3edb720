"""The mail builder: identity and one-click unsubscribe headers, no other contact data."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import NotFound
from meshkit.links import LinkKind, PersonLink, PersonLinks
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from services.campaigns.dispatch import exhausted_rule, retry_delay
from services.campaigns.message import Letterhead, MailFactory, PreferencesLink

TOKENS = UnsubscribeTokens("unit-secret")
FACTORY = MailFactory(
    Letterhead("Com <no-reply@univ.example>", "https://crm.univ.example/", "unsub@univ.example"),
    TOKENS,
)


def build() -> tuple[str, object]:
    message_id = FACTORY.new_message_id()
    mail = FACTORY.build(
        to="ada@example.org",
        subject="Bonjour Ada",
        body="Texte",
        message_id=message_id,
        unsubscribe=UnsubscribeRequest("contact-1", "newsletter", "campaign-1"),
    )
    return message_id, mail


def test_message_id_uses_the_senders_domain() -> None:
    message_id, mail = build()
    assert re.fullmatch(r"<[^<>@]+@univ\.example>", message_id)
    assert mail["Message-ID"] == message_id  # type: ignore[index]
    assert FACTORY.new_message_id() != message_id


def test_one_click_unsubscribe_headers() -> None:
    _, mail = build()
    url, mailto = re.findall(r"<([^>]+)>", mail["List-Unsubscribe"])  # type: ignore[index]
    token = url.removeprefix("https://crm.univ.example/unsubscribe/")
    assert url != token  # the URL sits under the gateway, without a double slash
    assert TOKENS.verify(token) == UnsubscribeRequest("contact-1", "newsletter", "campaign-1")
    assert mailto == f"mailto:unsub@univ.example?subject=unsubscribe-{token}"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # type: ignore[index]


def test_unsubscribe_links_go_on_the_wire_verbatim() -> None:
    _, mail = build()
    raw = mail.as_bytes()  # type: ignore[attr-defined]
    url, mailto = re.findall(r"<([^>]+)>", mail["List-Unsubscribe"])  # type: ignore[index]
    assert f"List-Unsubscribe: <{url}>, <{mailto}>".encode() in raw
    assert b"=?utf-8?" not in raw


def test_headers_carry_nothing_else_of_the_contact() -> None:
    _, mail = build()
    assert sorted(mail.keys()) == sorted(  # type: ignore[attr-defined]
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    assert mail["From"] == "Com <no-reply@univ.example>"  # type: ignore[index]
    assert mail["Date"]  # type: ignore[index]


LINKS = PersonLinks("unit-secret")
WITH_LINKS = MailFactory(
    Letterhead("Com <no-reply@univ.example>", "https://crm.univ.example/", "unsub@univ.example"),
    TOKENS,
    LINKS,
)


def test_a_campaign_mail_ends_with_its_preference_link_in_both_languages() -> None:
    mail = WITH_LINKS.build(
        to="ada@example.org",
        subject="Bonjour",
        body="Texte\n",
        message_id=WITH_LINKS.new_message_id(),
        unsubscribe=UnsubscribeRequest("contact-1", "newsletter", "campaign-1"),
        preferences=PreferencesLink("contact-1", "campaign-1"),
    )
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert body.startswith("Texte\n\n-- \n")
    urls = re.findall(r"https://crm\.univ\.example/preferences/(\S+)", body)
    assert len(urls) == 2 and urls[0] == urls[1]  # the French line, then the English one
    assert "Vos préférences" in body and "Your preferences" in body
    assert LINKS.verify(LinkKind.PREFERENCES, urls[0]) == PersonLink(
        LinkKind.PREFERENCES, "contact-1", "campaign-1"
    )
    with pytest.raises(NotFound):  # a preference link opens nothing else
        LINKS.verify(LinkKind.CONFIRM, urls[0])
    assert "ada@example.org" not in body.split("-- ")[1]


def test_a_mail_asked_to_link_preferences_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        FACTORY.build(
            to="ada@example.org",
            subject="Bonjour",
            body="Texte",
            message_id=FACTORY.new_message_id(),
            unsubscribe=None,
            preferences=PreferencesLink("contact-1", "campaign-1"),
        )


# --- Retries of temporary refusals -----------------------------------------------------

refusals = st.integers(min_value=1, max_value=40)
jitters = st.floats(min_value=0, max_value=1)


@given(refusals, jitters, st.integers(1, 600), st.integers(1, 86_400))
def test_a_retry_waits_the_upper_half_of_its_doubling_step(
    refused: int, jitter: float, first: int, longest: int
) -> None:
    full = min(longest, first * 2 ** (refused - 1))
    assert full / 2 <= retry_delay(refused, first, longest, jitter) <= full


@given(refusals, jitters, jitters, st.integers(1, 600), st.integers(1, 86_400))
def test_a_retry_never_waits_less_than_the_one_before_it_until_the_longest_wait(
    refused: int, before: float, after: float, first: int, longest: int
) -> None:
    if first * 2**refused > longest:
        return  # the next step is capped: both waits sit in [longest/2, longest]
    assert retry_delay(refused, first, longest, before) <= retry_delay(
        refused + 1, first, longest, after
    )


def test_the_rule_of_a_row_refused_too_often_names_the_last_code() -> None:
    assert exhausted_rule(451) == "smtp:451:retries_exhausted"
    assert exhausted_rule(None) == "smtp:lost:retries_exhausted"
