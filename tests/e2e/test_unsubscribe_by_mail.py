"""The mailto: of List-Unsubscribe, answered over SMTP, stops the next mail for every component.

The whole mesh runs as real processes; the mail is written the way a mail
client follows a `mailto:` link (recipient and subject from the URL) and sent
to consent's unsubscribe-mail endpoint.
"""

from __future__ import annotations

import re
import smtplib
import time
import urllib.parse
from email.message import EmailMessage

import pytest

from tests.e2e.conftest import COMPONENT_A, COMPONENT_B, World


def _mailto(world: World, address: str) -> tuple[str, str]:
    (mail,) = world.mesh.inbox.to(address)
    link = next(
        x for x in re.findall(r"<([^>]+)>", mail["List-Unsubscribe"]) if x.startswith("mailto:")
    )
    parts = urllib.parse.urlsplit(link)
    subject = urllib.parse.parse_qs(parts.query)["subject"][0]
    return parts.path, subject


def _send(world: World, sender: str, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("")
    with smtplib.SMTP("127.0.0.1", world.mesh.inbound_port, timeout=15) as smtp:
        smtp.send_message(message)


def _events(world: World, contact_id: str) -> list[dict[str, object]]:
    reply = world.api.call("GET", f"/v1/contacts/{contact_id}/consents", world.b)
    assert reply.status == 200, reply.text
    return list(reply.json["events"])


def test_an_unsubscribe_mail_withdraws_and_a_forged_one_does_not(world: World) -> None:
    contact = world.new_contact(world.a)
    world.new_contact(world.b, email=contact["email"])
    for token in (world.a, world.b):
        world.grant(token, contact["id"], purpose="alumni")
    first = world.campaign(world.a, [contact["id"]], purpose="alumni")
    world.send_and_wait(world.a, first["id"])
    to, subject = _mailto(world, contact["email"])

    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(world, contact["email"], to, subject[:-4] + "abcd")
    assert refused.value.smtp_code == 550
    assert all(e["action"] == "grant" for e in _events(world, contact["id"]))

    _send(world, contact["email"], to, subject)
    deadline = time.monotonic() + 10
    while _events(world, contact["id"])[-1]["action"] != "withdraw":
        assert time.monotonic() < deadline, "no withdrawal within 10 s"
        time.sleep(0.1)
    withdrawal = _events(world, contact["id"])[-1]
    assert withdrawal["scope"] == {"grouping": True} and withdrawal["source"] == "inbound-mail"
    for token, component in ((world.b, COMPONENT_B), (world.a, COMPONENT_A)):
        again = world.campaign(token, [contact["id"]], purpose="alumni", name=component)
        world.send_and_wait(token, again["id"])
        assert world.outcomes(token, again["id"]) == {contact["id"]: "withdrawn"}
    assert len(world.mesh.inbox.to(contact["email"])) == 1
    assert contact["email"] not in world.mesh.all_logs()
