"""The preference page through the real gateway, consent, contacts and campaigns processes.

Plain HTML forms posted as a browser without JavaScript would: the page ticks
what is granted, unticking withdraws and ticking grants with the notice shown,
both kept with the person's IP address and user agent; the same form twice
records nothing the second time; a forged, altered, expired link, or a link of
another kind, opens nothing and records nothing.
"""

from __future__ import annotations

import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import grpc
import pytest

from meshkit.links import LinkKind, PersonLinks
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from tests.integration.gateway.harness import UNSUBSCRIBE_SECRET, A, B, Gateway
from tests.support.mesh import Reply

LINKS = PersonLinks(UNSUBSCRIBE_SECRET)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) preference-page-test"
NEWS_A = f"{A}|newsletter|email"
EVENTS_GROUPING = "grouping|events|email"


class Page(HTMLParser):
    """The checkboxes of a page (value -> ticked), the hidden `shown`, its forms, any script."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.boxes: dict[str, bool] = {}
        self.shown: list[str] = []
        self.forms: list[str] = []
        self.scripts = 0
        self.legends: list[str] = []
        self._in_legend = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" or any(k.startswith("on") for k in named):
            self.scripts += 1
        if tag == "form":
            self.forms.append(named.get("action") or "")
        if tag == "input" and named.get("type") == "checkbox":
            self.boxes[named["value"] or ""] = "checked" in named
        if tag == "input" and named.get("type") == "hidden" and named.get("name") == "shown":
            self.shown.append(named.get("value") or "")
        self._in_legend = tag == "legend"

    def handle_data(self, data: str) -> None:
        if self._in_legend:
            self.legends.append(data.strip())
            self._in_legend = False


@pytest.fixture(scope="module")
def notices(gateway: Gateway) -> dict[tuple[str, str], str]:
    """A published notice for newsletter and events in both languages, by (purpose, lang)."""
    ids = {}
    for purpose in ("newsletter", "events"):
        for lang in ("fr", "en"):
            body = {"language": lang, "text": f"{purpose} ({lang}): what we do with it."}
            path = f"/v1/consent/purposes/{purpose}/notices"
            reply = gateway.api.call("POST", path, gateway.keys.admin(), body)
            assert reply.status == 201, reply.text
            ids[(purpose, lang)] = reply.json["id"]
    return ids


@pytest.fixture
def contact_id(gateway: Gateway, notices: dict[tuple[str, str], str]) -> str:
    body = {"kind": "person", "fields": {"email": f"{uuid.uuid4().hex[:12]}@example.org"}}
    reply = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(A), body)
    assert reply.status == 201, reply.text
    contact = str(reply.json["contact"]["id"])
    grant = {"channel": "email", "purpose": "newsletter", "scope": "component", "source": "web"}
    grant["notice_id"] = notices[("newsletter", "fr")]
    path = f"/v1/contacts/{contact}/consents"
    assert gateway.api.call("POST", path, gateway.keys.manager(A), grant).status == 201
    return contact


def history(gateway: Gateway, contact_id: str) -> list[Any]:
    """The contact's events as consent keeps them (with IP and user agent), as a service."""
    with grpc.insecure_channel(gateway.targets["consent"]) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        metadata = [("authorization", f"Bearer {gateway.keys.service('test')}")]
        reply = stub.GetHistory(
            consent_pb2.GetHistoryRequest(contact_id=contact_id), metadata=metadata, timeout=10
        )
    return list(reply.events)


def open_page(gateway: Gateway, path: str, lang: str = "en") -> tuple[Reply, Page]:
    reply = gateway.api.call("GET", f"{path}?lang={lang}", headers={"User-Agent": BROWSER})
    return reply, Page(reply.text)


def submit(
    gateway: Gateway, path: str, keep: list[str], shown: list[str] | None = None, lang: str = "en"
) -> Reply:
    """The form posted as a browser does: one `keep` per ticked box, then the hidden fields."""
    fields = [("keep", k) for k in keep] + [("shown", k) for k in shown or []]
    body = urllib.parse.urlencode(fields).encode()
    return gateway.api.call(
        "POST",
        f"{path}?lang={lang}",
        raw=body,
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": BROWSER},
    )


def ticked(page: Page) -> list[str]:
    return [key for key, on in page.boxes.items() if on]


def test_the_page_ticks_what_is_granted_and_carries_no_script(
    gateway: Gateway, contact_id: str
) -> None:
    path = f"/preferences/{LINKS.sign(LinkKind.PREFERENCES, contact_id)}"
    reply, page = open_page(gateway, path)
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.headers["Cache-Control"] == "no-store"
    assert page.scripts == 0 and "<script" not in reply.text.lower()
    assert ticked(page) == [NEWS_A]
    assert page.boxes[EVENTS_GROUPING] is False
    assert page.boxes["grouping|newsletter|email"] is False
    # A purpose with no notice is shown without a box: nothing to grant it against.
    assert not any("|alumni|" in key for key in page.boxes)
    assert "Alumni network" in reply.text
    assert page.forms == ["?lang=en", f"{path}/objection?lang=en"]
    french = gateway.api.call("GET", path, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert 'lang="fr"' in french.text and "Vos préférences" in french.text


def test_unticking_withdraws_and_ticking_grants_with_the_notice_shown(
    gateway: Gateway, contact_id: str, notices: dict[tuple[str, str], str]
) -> None:
    path = f"/preferences/{LINKS.sign(LinkKind.PREFERENCES, contact_id)}"
    before = len(history(gateway, contact_id))
    _, shown = open_page(gateway, path)
    assert shown.shown == ["", NEWS_A]
    # Newsletter unticked for the component, events ticked for the whole university.
    reply = submit(gateway, path, [EVENTS_GROUPING], shown.shown)
    assert reply.status == 200, reply.text  # after the 303 back to the page
    assert "Your choices are saved." in reply.text
    page = Page(reply.text)
    # The component follows the whole university's choice, with no event of its own.
    assert sorted(ticked(page)) == sorted([EVENTS_GROUPING, f"{A}|events|email"])

    new = history(gateway, contact_id)[before:]
    assert [(e.kind, e.purpose) for e in new] == [
        (consent_pb2.EVENT_KIND_GRANTED, "events"),
        (consent_pb2.EVENT_KIND_WITHDRAWN, "newsletter"),
    ]
    grant, withdrawal = new
    assert grant.scope.grouping and grant.notice_id == notices[("events", "en")]
    assert withdrawal.scope.component_id == A
    for event in new:
        assert event.how == consent_pb2.HOW_PREFERENCE_PAGE
        assert event.ip == "127.0.0.1" and event.user_agent == BROWSER

    again = submit(gateway, path, [EVENTS_GROUPING], shown.shown)
    assert again.status == 200, again.text
    assert len(history(gateway, contact_id)) == before + 2  # the same form twice: nothing more
    # A form without the hidden fields is read against the current state: nothing to do either.
    assert submit(gateway, path, ticked(page)).status == 200
    assert len(history(gateway, contact_id)) == before + 2


def test_the_component_that_sent_the_mail_is_offered_even_without_consent_there(
    gateway: Gateway, contact_id: str
) -> None:
    if not gateway.with_campaigns:
        pytest.skip("campaigns is not in this tree")
    body = {
        "name": "Rentrée",
        "purpose": "newsletter",
        "subject_template": "Bonjour",
        "body_template": "Bonjour",
        "audience": {"contact_ids": [contact_id]},
    }
    reply = gateway.api.call("POST", "/v1/campaigns", gateway.keys.manager(B), body)
    assert reply.status == 201, reply.text
    token = LINKS.sign(LinkKind.PREFERENCES, contact_id, reply.json["id"])
    reply, page = open_page(gateway, f"/preferences/{token}")
    assert reply.status == 200, reply.text
    assert page.boxes[f"{B}|newsletter|email"] is False
    assert page.boxes[NEWS_A] is True
    assert page.legends[:3] == ["The whole university", B.title(), A.title()]


def test_an_objection_on_the_page_is_recorded_for_every_channel(
    gateway: Gateway, contact_id: str
) -> None:
    path = f"/preferences/{LINKS.sign(LinkKind.PREFERENCES, contact_id)}/objection?lang=fr"
    for _ in range(2):  # a second press records nothing more
        reply = gateway.api.call(
            "POST",
            path,
            raw=b"object=yes",
            content_type="application/x-www-form-urlencoded",
            headers={"User-Agent": BROWSER},
        )
        assert reply.status == 200, reply.text
        assert "Votre opposition est enregistrée" in reply.text
    objections = [
        e for e in history(gateway, contact_id) if e.kind == consent_pb2.EVENT_KIND_OBJECTED
    ]
    assert len(objections) == 1
    (objection,) = objections
    assert objection.all_channels and objection.how == consent_pb2.HOW_PREFERENCE_PAGE
    assert (objection.ip, objection.user_agent) == ("127.0.0.1", BROWSER)
    _, page = open_page(gateway, path.removesuffix("/objection?lang=fr"))
    assert ticked(page) == []


def _expired(contact_id: str) -> str:
    long_ago = datetime.now(UTC) - timedelta(days=365)
    return PersonLinks(UNSUBSCRIBE_SECRET, clock=lambda: long_ago).sign(
        LinkKind.PREFERENCES, contact_id
    )


def _altered(contact_id: str) -> str:
    """A genuine link with one character of its signed content changed."""
    genuine = LINKS.sign(LinkKind.PREFERENCES, contact_id)
    at = 10  # inside the (compressed) content, before the timestamp and the signature
    return genuine[:at] + ("A" if genuine[at] != "A" else "B") + genuine[at + 1 :]


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda c: PersonLinks("not-the-secret").sign(LinkKind.PREFERENCES, c), 404),
        (_altered, 404),
        (_expired, 410),
        (lambda c: LINKS.sign(LinkKind.CONFIRM, c), 404),
    ],
    ids=["forged", "altered", "expired", "another-kind"],
)
def test_a_bad_link_opens_nothing_and_records_nothing(
    gateway: Gateway, contact_id: str, make: Any, status: int
) -> None:
    before = len(history(gateway, contact_id))
    path = f"/preferences/{make(contact_id)}"
    for reply in (
        open_page(gateway, path)[0],
        submit(gateway, path, [EVENTS_GROUPING]),
        gateway.api.call("POST", f"{path}/objection", raw=b"", content_type="text/plain"),
    ):
        assert reply.status == status, reply.text
        assert reply.headers["Content-Type"].startswith("text/html")
        assert "<script" not in reply.text.lower()
    assert len(history(gateway, contact_id)) == before


def test_one_click_keeps_the_ip_and_user_agent(gateway: Gateway, contact_id: str) -> None:
    token = UnsubscribeTokens(UNSUBSCRIBE_SECRET).sign(
        UnsubscribeRequest(contact_id, "newsletter", "campaign-ua")
    )
    reply = gateway.api.call(
        "POST",
        f"/unsubscribe/{token}",
        raw=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": "MailProvider-OneClick/2.0"},
    )
    assert reply.status == 200, reply.text
    withdrawal = history(gateway, contact_id)[-1]
    assert withdrawal.kind == consent_pb2.EVENT_KIND_WITHDRAWN
    assert withdrawal.how == consent_pb2.HOW_ONE_CLICK
    assert (withdrawal.ip, withdrawal.user_agent) == ("127.0.0.1", "MailProvider-OneClick/2.0")
