"""One mailing through the whole mesh: exactly the right people get exactly one mail."""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World

pytestmark = pytest.mark.e2e


def test_a_mailing_reaches_exactly_the_members_with_consent(world: World) -> None:
    a_only = world.new_contact(world.a, first_name="Alice")
    a_silent = world.new_contact(world.a, first_name="Arthur")
    b_only = world.new_contact(world.b, first_name="Bruno")
    shared = world.new_contact(world.a, first_name="Sacha")
    joined = world.new_contact(world.b, email=shared["email"], first_name="Sasha")
    assert joined["id"] == shared["id"]
    # Each component keeps its own value of the same field, and sees its own.
    assert joined["fields"]["first_name"] == {"value": "Sasha", "owner_component": COMPONENT_B}
    for contact in (a_only, shared):
        world.grant(world.a, contact["id"])
    world.grant(world.b, b_only["id"])

    ids = [a_only["id"], a_silent["id"], b_only["id"], shared["id"]]
    campaign = world.campaign(world.a, ids)
    done = world.send_and_wait(world.a, campaign["id"])

    outcomes = world.outcomes(world.a, campaign["id"])
    assert outcomes == {
        a_only["id"]: "sent",
        shared["id"]: "sent",
        a_silent["id"]: "no_consent",
        b_only["id"]: "not_member",
    }
    assert done["outcome_counts"] == {"sent": 2, "no_consent": 1, "not_member": 1}
    for contact, name in ((a_only, "Alice"), (shared, "Sacha")):
        mails = world.mesh.inbox.to(contact["email"])
        assert len(mails) == 1
        mail = mails[0]
        assert mail["Subject"] == f"Bonjour {name}"
        assert mail["Message-ID"]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        links = re.findall(r"<([^>]+)>", mail["List-Unsubscribe"])
        assert any(link.startswith(world.mesh.gateway_url + "/unsubscribe/") for link in links)
        assert any(link.startswith("mailto:") for link in links)
        raw_header = dict(mail.raw_items())["List-Unsubscribe"]  # as it came over SMTP
        assert "=?" not in raw_header  # not RFC 2047-encoded: clients need the links verbatim
    for contact in (a_silent, b_only):
        assert world.mesh.inbox.to(contact["email"]) == []


def test_second_mailing_inside_the_window_is_deferred_across_components(world: World) -> None:
    shared = world.new_contact(world.a)
    world.new_contact(world.b, email=shared["email"])
    world.grant(world.a, shared["id"])
    world.grant(world.b, shared["id"])

    first = world.campaign(world.a, [shared["id"]])
    world.send_and_wait(world.a, first["id"])
    second = world.campaign(world.b, [shared["id"]], name="Relance")
    reply = world.api.call("POST", f"/v1/campaigns/{second['id']}/send", world.b, {})
    assert reply.status == 202, reply.text
    world.mesh.wait_settled(world.b, second["id"])

    assert world.outcomes(world.a, first["id"]) == {shared["id"]: "sent"}
    # Over the grouping's budget: deferred to the first slot the policy allows.
    assert world.outcomes(world.b, second["id"]) == {shared["id"]: "deferred"}
    assert len(world.mesh.inbox.to(shared["email"])) == 1
    deliveries = world.api.call("GET", f"/v1/campaigns/{second['id']}/deliveries", world.b).json
    (row,) = deliveries["deliveries"]
    assert row["rule"].startswith("pressure:") and row["deferred_until"]
    # A campaign that drops what is over its budget closes it as capped instead.
    third = world.campaign(world.b, [shared["id"]], name="Dernière", over_budget="drop")
    world.send_and_wait(world.b, third["id"])
    assert world.outcomes(world.b, third["id"]) == {shared["id"]: "capped"}


def test_one_click_unsubscribe_stops_the_next_mail_for_every_component(world: World) -> None:
    contact = world.new_contact(world.a)
    world.new_contact(world.b, email=contact["email"])
    world.grant(world.a, contact["id"], purpose="events")
    world.grant(world.b, contact["id"], purpose="events")
    first = world.campaign(world.a, [contact["id"]], purpose="events")
    world.send_and_wait(world.a, first["id"])
    (mail,) = world.mesh.inbox.to(contact["email"])
    url = next(
        link
        for link in re.findall(r"<([^>]+)>", mail["List-Unsubscribe"])
        if link.startswith("http")
    )
    path = urllib.parse.urlsplit(url).path

    forged = world.api.call(
        "POST",
        path[:-3] + "xyz",
        raw=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert forged.status == 404
    assert forged.headers["Content-Type"].startswith("application/problem+json")
    assert world.api.call("GET", path).status == 200  # the page changes nothing
    history = world.api.call("GET", f"/v1/contacts/{contact['id']}/consents", world.b).json
    assert all(e["action"] == "grant" for e in history["events"])

    reply = world.api.call(
        "POST",
        path,
        raw=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert reply.status == 200, reply.text

    history = world.api.call("GET", f"/v1/contacts/{contact['id']}/consents", world.b).json
    withdrawal = history["events"][-1]
    assert withdrawal["action"] == "withdraw"
    assert withdrawal["scope"] == {"grouping": True}
    assert withdrawal["source"] == "one-click-unsubscribe"
    for token, component in ((world.b, COMPONENT_B), (world.a, COMPONENT_A)):
        again = world.campaign(token, [contact["id"]], purpose="events", name=component)
        world.send_and_wait(token, again["id"])
        assert world.outcomes(token, again["id"]) == {contact["id"]: "withdrawn"}
    assert len(world.mesh.inbox.to(contact["email"])) == 1


def test_audience_of_all_my_contacts_excludes_other_components(world: World) -> None:
    component = "lettres"
    reply = world.api.call("POST", "/v1/components", world.admin, {"id": component, "name": "L"})
    assert reply.status == 201, reply.text
    token = world.mesh.keys.manager(component)
    mine = [world.new_contact(token) for _ in range(3)]
    theirs = world.new_contact(world.b)
    for contact in mine:
        world.grant(token, contact["id"])
    campaign = world.campaign(token, [], audience={"all_of_component": True})
    world.send_and_wait(token, campaign["id"])
    assert world.outcomes(token, campaign["id"]) == {c["id"]: "sent" for c in mine}
    assert world.mesh.inbox.to(theirs["email"]) == []


def test_a_scheduled_mailing_leaves_at_its_time_not_before(world: World) -> None:
    contact = world.new_contact(world.a)
    world.grant(world.a, contact["id"], purpose="continuing_education")
    campaign = world.campaign(world.a, [contact["id"]], purpose="continuing_education")
    send_at = datetime.now(UTC) + timedelta(seconds=3)
    stamp = send_at.isoformat().replace("+00:00", "Z")
    reply = world.api.call(
        "POST", f"/v1/campaigns/{campaign['id']}/schedule", world.a, {"send_at": stamp}
    )
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "scheduled"
    assert world.mesh.inbox.to(contact["email"]) == []

    world.mesh.wait_done(world.a, campaign["id"])
    (mail,) = world.mesh.inbox.to(contact["email"])
    assert parsedate_to_datetime(mail["Date"]) >= send_at.replace(microsecond=0)
    assert world.outcomes(world.a, campaign["id"]) == {contact["id"]: "sent"}
