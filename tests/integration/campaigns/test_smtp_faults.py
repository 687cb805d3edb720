"""SMTP faults from a relay on a real socket: refusals, drops and stalls, before and after the
end of DATA, each ending as RFC 1047 says (retried when no copy can exist, in doubt when one
may), and one connection kept open across batches."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from meshkit.db import Database
from services.campaigns.policy import RULE_REPLY_LOST
from services.campaigns.signing import DkimSigner
from tests.support.dispatch_rig import Rig
from tests.support.fault_relay import FaultRelay, fault_relay


@pytest.fixture
def relay() -> Iterator[FaultRelay]:
    with fault_relay(stall_seconds=2.0) as running:
        yield running


@pytest.fixture
def rig(db: Database, redis_client: Any, prefix: str, relay: FaultRelay) -> Iterator[Rig]:
    made = Rig(db, redis_client, prefix, relay)
    yield made
    made.close()


def only(people: dict[str, str]) -> tuple[str, str]:
    ((contact, address),) = people.items()
    return contact, address


def waits_of(rig: Rig, campaign_id: str, contact: str) -> float:
    """How long the row waits before it may be claimed again, by the ledger's clock."""
    claimed_until = rig.rows(campaign_id)[contact].claimed_until
    assert claimed_until is not None
    return (claimed_until - rig.clock()).total_seconds()


def test_a_4xx_is_retried_later_and_delivered_once(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher()
    campaign, people = rig.campaign(1)
    contact, address = only(people)
    relay.script(address, "451 4.7.1 greylisted")

    rig.drain(dispatcher)
    row = rig.rows(campaign)[contact]
    assert (row.outcome, row.attempts, row.send_started_at) == ("pending", 1, None)
    assert relay.delivered[address] == 0
    assert not rig.holds_slot(campaign, contact)  # its slot went back while it waits
    assert waits_of(rig, campaign, contact) >= 5  # half the first wait at least: not now

    rig.drain(dispatcher)  # not yet due: nothing happens
    assert relay.rcpts[address] == 1

    rig.clock.advance(waits_of(rig, campaign, contact) + 1)
    rig.drain(dispatcher)
    row = rig.rows(campaign)[contact]
    assert (row.outcome, row.rule) == ("sent", "consent:consent_given")
    assert (relay.rcpts[address], relay.delivered[address]) == (2, 1)
    assert rig.holds_slot(campaign, contact)


def test_a_5xx_fails_for_good_and_frees_the_slot(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher()
    campaign, people = rig.campaign(3)
    refused, address = next(iter(people.items()))
    relay.always(address, "550 5.1.1 no such mailbox")

    rig.drain(dispatcher)
    rows = rig.rows(campaign)
    assert (rows[refused].outcome, rows[refused].rule) == ("smtp_failed", "smtp:550")
    assert not rig.holds_slot(campaign, refused)
    assert relay.rcpts[address] == 1  # never asked again
    others = [c for c in people if c != refused]
    assert all(rows[c].outcome == "sent" and rig.holds_slot(campaign, c) for c in others)
    assert all(relay.delivered[people[c]] == 1 for c in others)


def test_a_4xx_forever_fails_after_the_limit_each_wait_longer(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher(max_attempts=4, retry_delay_seconds=10)
    campaign, people = rig.campaign(1)
    contact, address = only(people)
    relay.always(address, "452 4.2.2 mailbox full")

    waits = []
    for _ in range(3):
        rig.drain(dispatcher)
        waits.append(waits_of(rig, campaign, contact))
        assert rig.rows(campaign)[contact].outcome == "pending"
        rig.clock.advance(waits[-1] + 1)
    rig.drain(dispatcher)

    row = rig.rows(campaign)[contact]
    assert (row.outcome, row.rule, row.attempts) == (
        "smtp_failed",
        "smtp:452:retries_exhausted",
        3,  # the fourth refusal closed it instead of counting
    )
    assert relay.rcpts[address] == 4 and relay.delivered[address] == 0
    assert not rig.holds_slot(campaign, contact)
    # 10 s doubling, each wait in the upper half of its step: [5, 10], [10, 20], [20, 40].
    assert waits == sorted(waits) and len(set(waits)) == 3
    for n, wait in enumerate(waits):
        assert 5 * 2**n <= wait <= 10 * 2**n


def test_a_drop_when_data_is_asked_is_retried_and_delivered_once(
    rig: Rig, relay: FaultRelay
) -> None:
    dispatcher = rig.dispatcher()
    campaign, people = rig.campaign(3)
    contact, address = next(iter(people.items()))
    relay.script(address, "drop-at-data")  # no byte of the mail has left: no copy can exist

    rig.drain(dispatcher)
    rows = rig.rows(campaign)
    assert (rows[contact].outcome, rows[contact].attempts) == ("pending", 1)
    # The connection was lost; the rest of the group went on over a new one.
    assert all(rows[c].outcome == "sent" for c in people if c != contact)
    rig.clock.advance(waits_of(rig, campaign, contact) + 1)
    rig.drain(dispatcher)
    assert rig.rows(campaign)[contact].outcome == "sent"
    assert all(relay.delivered[a] == 1 for a in people.values())
    assert relay.connections == 2  # the first; then one after the drop, kept for the retry


def test_a_drop_mid_data_leaves_the_mail_in_doubt_never_resent(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher()
    campaign, people = rig.campaign(2)
    contact, address = next(iter(people.items()))
    # The relay closes after the first line of content. The client had written the whole
    # mail, final "." included, before it noticed: for all it knows the relay has it.
    relay.script(address, "drop-mid-data")

    rig.drain(dispatcher)
    row = rig.rows(campaign)[contact]
    assert (row.outcome, row.rule) == ("unconfirmed", RULE_REPLY_LOST)
    assert row.send_started_at is not None and row.message_id  # counted by pressure
    assert rig.holds_slot(campaign, contact)
    rig.clock.advance(4000)
    rig.drain(dispatcher)
    assert relay.rcpts[address] == 1 and relay.delivered[address] == 0  # asked once, never again
    other = next(c for c in people if c != contact)
    assert rig.rows(campaign)[other].outcome == "sent"


def test_a_stall_before_the_end_of_data_times_out_and_is_retried(
    rig: Rig, relay: FaultRelay
) -> None:
    dispatcher = rig.dispatcher(timeout_seconds=0.5)
    campaign, people = rig.campaign(1)
    contact, address = only(people)
    relay.script(address, "stall-rcpt")

    rig.drain(dispatcher)
    row = rig.rows(campaign)[contact]
    assert (row.outcome, row.attempts) == ("pending", 1)
    rig.clock.advance(waits_of(rig, campaign, contact) + 1)
    rig.drain(dispatcher)
    assert rig.rows(campaign)[contact].outcome == "sent"
    assert relay.delivered[address] == 1


def test_a_stall_after_the_end_of_data_times_out_in_doubt(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher(timeout_seconds=0.5)
    campaign, people = rig.campaign(1)
    contact, address = only(people)
    relay.script(address, "stall-after-end")  # the relay has the mail; its 250 comes too late

    rig.drain(dispatcher)
    row = rig.rows(campaign)[contact]
    assert (row.outcome, row.rule) == ("unconfirmed", RULE_REPLY_LOST)
    rig.clock.advance(4000)
    rig.drain(dispatcher)
    assert relay.delivered[address] == 1  # one copy, and no second attempt
    assert relay.rcpts[address] == 1


def test_a_refusal_of_the_content_is_retried_like_any_4xx(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher()
    campaign, people = rig.campaign(1)
    contact, address = only(people)
    relay.script(address, "data:421 4.3.2 shutting down")  # and the relay closes

    rig.drain(dispatcher)
    assert (rig.rows(campaign)[contact].outcome, relay.delivered[address]) == ("pending", 0)
    rig.clock.advance(waits_of(rig, campaign, contact) + 1)
    rig.drain(dispatcher)
    assert rig.rows(campaign)[contact].outcome == "sent"
    assert relay.delivered[address] == 1


def test_many_batches_through_one_worker_use_one_connection(rig: Rig, relay: FaultRelay) -> None:
    dispatcher = rig.dispatcher(batch_size=4, group_size=3)
    campaign, people = rig.campaign(22)  # six batches

    batches = 0
    while dispatcher.run_once("w1"):
        batches += 1
    assert batches == 6
    assert all(r.outcome == "sent" for r in rig.rows(campaign).values())
    assert sum(relay.delivered.values()) == 22
    assert relay.connections == 1


def test_a_relay_that_is_away_loses_no_one_and_counts_no_attempt(
    rig: Rig, relay: FaultRelay
) -> None:
    dispatcher = rig.dispatcher()
    campaign, people = rig.campaign(7)
    relay.stop()

    rig.drain(dispatcher)
    rows = rig.rows(campaign)
    assert all(
        (r.outcome, r.attempts, r.send_started_at) == ("pending", 0, None) for r in rows.values()
    )
    assert not any(rig.holds_slot(campaign, c) for c in people)


def test_what_the_relay_receives_is_signed_multipart_with_escaped_values(
    db: Database, redis_client: Any, prefix: str, relay: FaultRelay
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signer = DkimSigner("sel", "univ.example", pem)
    rig = Rig(db, redis_client, prefix, relay, signer=signer)
    try:
        dispatcher = rig.dispatcher()
        campaign, people = rig.campaign(1)
        contact, address = only(people)
        rig.directory.names[contact] = "<script>x()</script>"
        rig.drain(dispatcher)
    finally:
        rig.close()

    (data,) = relay.copies(address)
    record = signer.dns_record().encode()
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == rig.rows(campaign)[contact].message_id
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "<script>" not in html


def test_a_campaign_html_template_is_sent_with_values_escaped_and_the_footer(
    rig: Rig, relay: FaultRelay
) -> None:
    dispatcher = rig.dispatcher()
    html = "<html><body><h1>Bonjour {{ first_name }}</h1></body></html>"
    campaign, people = rig.campaign(1, html=html)
    contact, address = only(people)
    rig.directory.names[contact] = '<img src=x onerror="y()">'
    rig.drain(dispatcher)

    (data,) = relay.copies(address)
    message = email.message_from_bytes(data, policy=email.policy.default)
    part = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<h1>Bonjour &lt;img src=x onerror=&quot;y()&quot;&gt;</h1>" in part
    assert "<img" not in part
    # The footer goes inside the body, before its end.
    assert part.index("Se désinscrire en un clic") < part.index("</body>")
