"""The preference page and one-click, end to end: what the person answers binds every component.

The whole mesh runs as real processes with a real SMTP server. The person
follows the link at the foot of a campaign mail, unticks a purpose on the page
(a plain HTML form post, no JavaScript): no component's mail for that purpose
reaches them any more, while another purpose still does. Then they object on
the page: no marketing mail of any component or purpose reaches them. The
RFC 8058 one-click POST stops a purpose for every component the same way.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World
from tests.support.mesh import Mesh, Reply

PURPOSES = ("newsletter", "events")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A mesh of its own whose pressure cap lets one person get every mail these tests send."""
    workdir: Path = tmp_path_factory.mktemp("preferences")
    with Mesh(workdir, pressure_max=50) as mesh:
        admin = mesh.keys.admin()
        for component in (COMPONENT_A, COMPONENT_B):
            body = {"id": component, "name": component.title()}
            assert mesh.api.call("POST", "/v1/components", admin, body).status == 201
        for purpose in PURPOSES:
            body = {"language": "fr", "text": f"Ce que nous faisons de « {purpose} »."}
            path = f"/v1/consent/purposes/{purpose}/notices"
            assert mesh.api.call("POST", path, admin, body).status == 201
        keys = mesh.keys
        yield World(mesh, mesh.api, admin, keys.manager(COMPONENT_A), keys.manager(COMPONENT_B))


class Form(HTMLParser):
    """The boxes of the page (value -> ticked) and its hidden `shown` fields."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.boxes: dict[str, bool] = {}
        self.shown: list[str] = []
        self.scripts = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "input" and named.get("type") == "checkbox":
            self.boxes[named["value"] or ""] = "checked" in named
        if tag == "input" and named.get("type") == "hidden" and named.get("name") == "shown":
            self.shown.append(named.get("value") or "")


def person_known_to_both(world: World) -> dict[str, Any]:
    """A contact both components know, who granted both purposes to each of them."""
    contact = world.new_contact(world.a)
    world.new_contact(world.b, email=contact["email"])
    for token in (world.a, world.b):
        for purpose in PURPOSES:
            world.grant(token, contact["id"], purpose=purpose)
    return contact


def mail_reaches(world: World, token: str, contact: dict[str, Any], purpose: str) -> bool:
    """Sends one campaign of `purpose` to the contact; whether a mail reached the sink."""
    before = len(world.mesh.inbox.to(contact["email"]))
    campaign = world.campaign(token, [contact["id"]], purpose=purpose, name=purpose)
    world.send_and_wait(token, campaign["id"])
    outcome = world.outcomes(token, campaign["id"])[contact["id"]]
    arrived = len(world.mesh.inbox.to(contact["email"])) - before
    assert arrived == (1 if outcome == "sent" else 0), outcome
    return outcome == "sent"


def outcome_of_next(world: World, token: str, contact: dict[str, Any], purpose: str) -> str:
    campaign = world.campaign(token, [contact["id"]], purpose=purpose, name=purpose)
    world.send_and_wait(token, campaign["id"])
    return world.outcomes(token, campaign["id"])[contact["id"]]


def preference_path(world: World, address: str) -> str:
    """The path of the preference link at the foot of the latest mail to `address`."""
    mail = world.mesh.inbox.to(address)[-1]
    body = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    urls = set(re.findall(r"https?://\S+/preferences/\S+", body))
    assert len(urls) == 1, body  # the same link on the French and the English line
    url = urls.pop()
    assert url.startswith(world.api.base)
    return urllib.parse.urlsplit(url).path


def post_form(world: World, path: str, fields: list[tuple[str, str]]) -> Reply:
    """A browser without JavaScript posting a form."""
    return world.api.call(
        "POST",
        path,
        raw=urllib.parse.urlencode(fields).encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": "e2e-browser/1.0"},
    )


def test_unticking_a_purpose_stops_it_for_every_component_and_objecting_stops_all(
    world: World,
) -> None:
    contact = person_known_to_both(world)
    assert mail_reaches(world, world.a, contact, "newsletter")
    path = preference_path(world, contact["email"])

    page = world.api.call("GET", path)
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    form = Form(page.text)
    assert form.scripts == 0
    newsletter = {f"{c}|newsletter|email" for c in (COMPONENT_A, COMPONENT_B)}
    events = {f"{c}|events|email" for c in (COMPONENT_A, COMPONENT_B)}
    assert {key for key, on in form.boxes.items() if on} == newsletter | events
    assert contact["email"] not in page.text and "Camille" not in page.text

    keep = [key for key, on in form.boxes.items() if on and key not in newsletter]
    saved = post_form(world, path, [("keep", k) for k in keep] + [("shown", k) for k in form.shown])
    assert saved.status == 200, saved.text  # the page again, after the 303
    assert {key for key, on in Form(saved.text).boxes.items() if on} == events

    for token in (world.a, world.b):
        assert outcome_of_next(world, token, contact, "newsletter") == "withdrawn"
        assert mail_reaches(world, token, contact, "events")
    sent_so_far = len(world.mesh.inbox.to(contact["email"]))

    done = post_form(world, f"{path}/objection", [("object", "yes")])
    assert done.status == 200, done.text
    for token in (world.a, world.b):
        for purpose in (*PURPOSES, "alumni"):
            assert outcome_of_next(world, token, contact, purpose) == "withdrawn"
    assert len(world.mesh.inbox.to(contact["email"])) == sent_so_far

    ledger = world.api.call("GET", f"/v1/contacts/{contact['id']}/consents", world.b)
    assert ledger.status == 200, ledger.text
    kinds = [(e["kind"], e["how"]) for e in ledger.json["events"]]
    # What B may see: its two grants, its withdrawal made on the page, then the objection.
    assert kinds == [
        ("granted", "staff"),
        ("granted", "staff"),
        ("withdrawn", "preference_page"),
        ("objected", "preference_page"),
    ]
    assert contact["email"] not in world.mesh.all_logs()


def test_one_click_stops_a_purpose_for_every_component(world: World) -> None:
    contact = person_known_to_both(world)
    assert mail_reaches(world, world.b, contact, "newsletter")
    mail = world.mesh.inbox.to(contact["email"])[-1]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = next(
        x for x in re.findall(r"<([^>]+)>", mail["List-Unsubscribe"]) if x.startswith("http")
    )
    reply = world.api.call(
        "POST",
        urllib.parse.urlsplit(url).path,
        raw=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": "MailProvider-OneClick/2.0"},
    )
    assert reply.status == 200, reply.text
    sent_so_far = len(world.mesh.inbox.to(contact["email"]))
    for token in (world.a, world.b):
        assert outcome_of_next(world, token, contact, "newsletter") == "withdrawn"
    assert len(world.mesh.inbox.to(contact["email"])) == sent_so_far
    for token in (world.a, world.b):
        assert mail_reaches(world, token, contact, "events")
    events = world.api.call("GET", f"/v1/contacts/{contact['id']}/consents", world.a).json
    assert [(e["kind"], e["how"]) for e in events["events"]][-1] == ("withdrawn", "one_click")
