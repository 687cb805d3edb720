"""SendTransactional through a real `crm serve campaigns`, real contacts and consent, a real
SMTP server: exempt from pressure, refused to most callers, recorded and sent once per key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from meshkit.db import Database
from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from services.campaigns.models import Delivery
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import Peers, Sink, campaigns_process
from tests.integration.campaigns.test_process import (
    Client,
    consenting_person,
    new_campaign,
    violations,
    wait_settled,
    wait_status,
)
from tests.support.stores import redis_prefix
from tests.support.tokens import TestKeys

Running = tuple[grpc.Channel, TestKeys, Peers, Sink, str]


@pytest.fixture(scope="module")
def running(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_client: Any,
    keys: TestKeys,
    peers: Peers,
) -> Iterator[Running]:
    workdir: Path = tmp_path_factory.mktemp("campaigns-transactional")
    prefix = redis_prefix()
    settings = {"TRANSACTIONAL_ROLES": "dpo", "PRESSURE_MAX_PER_WINDOW": "1"}
    with campaigns_process(workdir, keys, pg_url, peers, prefix, **settings) as (
        channel,
        sink,
        _log,
    ):
        yield channel, keys, peers, sink, prefix
    delete_keys(redis_client, prefix)


@pytest.fixture
def consent(running: Running) -> Client:
    """The consent service, as its own token names it."""
    channel, keys, *_ = running
    return Client(channel, keys.service("consent"))


def person(peers: Peers, component: str = "sciences") -> tuple[str, str]:
    """A contact of `component` with no consent at all; (id, address)."""
    address = f"tx.{uuid.uuid4().hex[:10]}@example.org"
    return peers.new_contact(component, email=address, first_name="Ada"), address


def request(contact_id: str, **fields: Any) -> pb.SendTransactionalRequest:
    values: dict[str, Any] = {
        "idempotency_key": f"confirm-{uuid.uuid4().hex}",
        "contact_id": contact_id,
        "component_id": "sciences",
        "kind": "consent_confirmation",
        "subject": "Confirmez votre inscription",
        "text_body": "Cliquez sur ce lien pour confirmer.",
        **fields,
    }
    return pb.SendTransactionalRequest(**values)


def rows(db: Database, key: str) -> list[Delivery]:
    with db.transaction() as session:
        return list(session.scalars(select(Delivery).where(Delivery.idempotency_key == key)))


def refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_the_consent_service_mails_a_person_without_consent_once_per_key(
    running: Running, consent: Client, db: Database
) -> None:
    *_, peers, sink, _ = running
    contact_id, address = person(peers)
    sent = request(contact_id, headers={"Reply-To": "dpo@univ.example"}, purpose="newsletter")
    first = consent.SendTransactional(sent)
    assert (first.outcome, first.rule, first.replayed) == ("sent", "transactional", False)
    (mail,) = sink.to(address)
    assert mail["Subject"] == "Confirmez votre inscription"
    assert mail["Message-ID"] == first.message_id
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Reply-To"] == "dpo@univ.example"
    assert mail["List-Unsubscribe"] is None  # not asked for
    again = consent.SendTransactional(sent)
    assert (again.delivery_id, again.outcome, again.replayed) == (first.delivery_id, "sent", True)
    assert len(sink.to(address)) == 1
    (row,) = rows(db, sent.idempotency_key)
    assert (row.message_class, row.kind, row.sender, row.campaign_id) == (
        "transactional",
        "consent_confirmation",
        "service:consent",
        None,
    )


def test_list_unsubscribe_is_added_when_asked(running: Running, consent: Client) -> None:
    *_, peers, sink, _ = running
    contact_id, address = person(peers)
    reply = consent.SendTransactional(
        request(
            contact_id, kind="consent_revalidation", purpose="newsletter", list_unsubscribe=True
        )
    )
    assert reply.outcome == "sent"
    (mail,) = sink.to(address)
    assert "/unsubscribe/" in mail["List-Unsubscribe"]


def test_concurrent_repeats_of_one_key_send_one_mail(running: Running, consent: Client) -> None:
    *_, peers, sink, _ = running
    contact_id, address = person(peers)
    same = request(contact_id)
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda _: consent.SendTransactional(same), range(6)))
    assert len({r.delivery_id for r in replies}) == 1
    assert sum(not r.replayed for r in replies) == 1
    assert {r.outcome for r in replies} <= {"sent", "pending"}
    assert consent.SendTransactional(same).outcome == "sent"
    assert len(sink.to(address)) == 1


def test_transactional_mail_neither_reserves_nor_counts_against_the_pressure_budget(
    running: Running, consent: Client, redis_client: Any
) -> None:
    channel, keys, peers, sink, prefix = running
    contact_id, address = consenting_person(peers, "Budget")
    for _ in range(3):  # the budget is 1 mail per window
        assert consent.SendTransactional(request(contact_id)).outcome == "sent"
    assert redis_client.zcard(f"{prefix}pressure:{{{contact_id}}}:log") == 0
    manager = Client(channel, keys.manager("sciences"))
    first = new_campaign(manager, [contact_id])
    manager.SendNow(pb.SendNowRequest(id=first.id))
    assert wait_status(manager, first.id, pb.CAMPAIGN_STATUS_DONE).outcome_counts == {"sent": 1}
    second = new_campaign(manager, [contact_id])
    manager.SendNow(pb.SendNowRequest(id=second.id))
    assert wait_settled(manager, second.id).outcome_counts == {"deferred": 1}
    assert len(sink.to(address)) == 4  # three transactional, one campaign
    # A transactional mail still leaves when the marketing budget is spent.
    assert consent.SendTransactional(request(contact_id)).outcome == "sent"


def test_callers_other_than_consent_and_the_allowed_roles_are_refused_and_nothing_is_written(
    running: Running, db: Database
) -> None:
    channel, keys, peers, sink, _ = running
    contact_id, address = person(peers)
    denied, unauthenticated = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED
    callers = {
        "another service": (keys.service("gateway"), denied),
        "a campaign manager": (keys.manager("sciences"), denied),
        "an admin": (keys.issuer.mint("root@grouping", roles=["admin"]), denied),
        # A person's token may not even carry a service's subject: refused as a token.
        "a person named like the service": (
            keys.issuer.mint("service:consent", roles=["admin"]),
            unauthenticated,
        ),
    }
    for token, code in callers.values():
        sent = request(contact_id)
        error = refused(lambda: Client(channel, token).SendTransactional(sent))  # noqa: B023
        assert error.code() is code
        assert rows(db, sent.idempotency_key) == []
    assert sink.to(address) == []


def test_a_role_named_by_the_setting_sends_for_its_own_component_only(
    running: Running, db: Database
) -> None:
    channel, keys, peers, sink, _ = running
    contact_id, address = person(peers)
    dpo = Client(channel, keys.issuer.mint("dpo@sciences", component="sciences", roles=["dpo"]))
    reply = dpo.SendTransactional(request(contact_id, component_id="", kind="test_send"))
    assert reply.outcome == "sent" and len(sink.to(address)) == 1
    for changes in ({"to": "someone@example.org"}, {"component_id": "lettres"}):
        sent = request(contact_id, kind="test_send", **changes)
        assert refused(lambda: dpo.SendTransactional(sent)).code() is (  # noqa: B023
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert rows(db, sent.idempotency_key) == []


def test_unknown_and_foreign_contacts_are_not_member_and_get_no_mail(
    running: Running, consent: Client
) -> None:
    *_, peers, sink, _ = running
    foreign, address = person(peers, component="lettres")
    before = sink.count()
    for contact_id in (foreign, str(uuid.uuid4())):
        reply = consent.SendTransactional(request(contact_id))
        assert (reply.outcome, reply.rule) == ("not_member", "membership")
    assert sink.count() == before and sink.to(address) == []


def test_a_service_may_give_the_address_itself(running: Running, consent: Client) -> None:
    *_, peers, sink, _ = running
    address = f"given.{uuid.uuid4().hex[:8]}@example.org"
    reply = consent.SendTransactional(request("c-given", component_id="", to=address))
    assert reply.outcome == "sent" and len(sink.to(address)) == 1


def test_a_relay_away_sends_nothing_and_the_repeat_sends_once(
    running: Running, consent: Client, db: Database
) -> None:
    *_, peers, sink, _ = running
    contact_id, address = person(peers)
    sent = request(contact_id)
    sink.refuse_once[address] = "451 try again later"
    error = refused(lambda: consent.SendTransactional(sent))
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert [r.outcome for r in rows(db, sent.idempotency_key)] == ["pending"]
    assert sink.to(address) == []
    reply = consent.SendTransactional(sent)
    assert (reply.outcome, reply.replayed) == ("sent", False)
    assert len(sink.to(address)) == 1


def test_a_reply_lost_after_the_data_is_unconfirmed_and_never_resent(
    running: Running, consent: Client
) -> None:
    *_, peers, sink, _ = running
    contact_id, address = person(peers)
    sent = request(contact_id)
    sink.after_data[address] = "drop"
    reply = consent.SendTransactional(sent)
    assert (reply.outcome, reply.rule) == ("unconfirmed", "smtp:reply_lost")
    again = consent.SendTransactional(sent)
    assert (again.outcome, again.replayed) == ("unconfirmed", True)
    assert len(sink.to(address)) == 1


def test_a_key_reused_for_another_message_is_refused(running: Running, consent: Client) -> None:
    *_, peers, _, _ = running
    first, _ = person(peers)
    other, _ = person(peers)
    sent = request(first)
    consent.SendTransactional(sent)
    reused = request(other, idempotency_key=sent.idempotency_key)
    error = refused(lambda: consent.SendTransactional(reused))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_bad_input_names_its_fields_and_writes_nothing(
    running: Running, consent: Client, db: Database
) -> None:
    with db.transaction() as session:
        before = session.scalar(select(func.count()).select_from(Delivery))
    bad = request(
        "c-1",
        idempotency_key="has space",
        kind="newsletter",
        subject="a\r\nBcc: x@example.org",
        text_body="",
        headers={"Bcc": "x@example.org"},
    )
    error = refused(lambda: consent.SendTransactional(bad))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {
        "idempotency_key",
        "kind",
        "subject",
        "text_body",
        "headers[Bcc]",
    }
    assert "x@example.org" not in (error.details() or "")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == before
