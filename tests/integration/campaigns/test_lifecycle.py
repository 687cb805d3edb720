"""The campaign lifecycle through a real `crm serve campaigns`: real contacts and consent, a
real SMTP server, real tokens. Pause, resume and cancel during a send; edits refused once
running; unschedule; a test send to the caller's own address."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from meshkit.db import Database
from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from services.campaigns.models import Campaign, Delivery
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import Peers, Sink, campaigns_process
from tests.integration.campaigns.test_process import Client, new_campaign, violations
from tests.support.stores import redis_prefix
from tests.support.tokens import TestKeys

BATCH = 2
# Each mail is held this long by the relay after its end of DATA: a send lasts long enough
# to pause or cancel in its middle.
STALL = 0.1
FINAL = {"sent", "cancelled", "unconfirmed"}


@dataclass
class Running:
    channel: grpc.Channel
    keys: TestKeys
    peers: Peers
    sink: Sink
    prefix: str
    log: Path


@pytest.fixture(scope="module")
def running(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_client: Any,
    keys: TestKeys,
    peers: Peers,
) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("campaigns-lifecycle")
    prefix = redis_prefix()
    settings = {
        "BATCH_SIZE": str(BATCH),
        "DISPATCH_THREADS": "1",
        "SCHEDULER_SYNC_SECONDS": "0.2",
        "PRESSURE_MAX_PER_WINDOW": "5",
    }
    with campaigns_process(workdir, keys, pg_url, peers, prefix, **settings) as (
        channel,
        sink,
        log,
    ):
        sink.stall_seconds = STALL
        yield Running(channel, keys, peers, sink, prefix, log)
    delete_keys(redis_client, prefix)


@pytest.fixture
def sciences(running: Running) -> Client:
    return Client(running.channel, running.keys.manager("sciences"))


def audience(running: Running, size: int) -> tuple[list[str], list[str]]:
    """`size` consenting sciences contacts whose every mail stalls at the relay."""
    tag = uuid.uuid4().hex[:8]
    addresses = [f"lc{i}.{tag}@example.org" for i in range(size)]
    ids = running.peers.new_contacts("sciences", addresses)
    running.peers.grant_all(ids, "sciences")
    for address in addresses:
        running.sink.after_data[address] = "stall"
    return ids, addresses


def mails_to(sink: Sink, addresses: list[str]) -> Counter[str]:
    wanted = set(addresses)
    with sink.lock:
        return Counter(r for rcpts, _ in sink.messages for r in rcpts if r in wanted)


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        time.sleep(0.02)


def settle(count: Callable[[], int], quiet: float = 0.6) -> int:
    """`count()` once it stopped moving for `quiet` seconds (many dispatch polls)."""
    last, since = count(), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError("still moving")
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def ledger(db: Database, campaign_id: str) -> list[Delivery]:
    with db.transaction() as session:
        return list(session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)))


def refused(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def stamp(at: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(at)
    return value


def test_pause_stops_claiming_and_resume_sends_the_rest_once_each(
    running: Running, sciences: Client, db: Database
) -> None:
    ids, addresses = audience(running, 12)
    campaign = new_campaign(sciences, ids)
    sciences.SendNow(pb.SendNowRequest(id=campaign.id))
    wait_until(lambda: sum(mails_to(running.sink, addresses).values()) >= 2)

    paused = sciences.PauseCampaign(pb.PauseCampaignRequest(id=campaign.id))
    assert paused.status == pb.CAMPAIGN_STATUS_PAUSED
    # The batch in hand may finish; then nothing leaves while paused, poll after poll.
    out = settle(lambda: sum(mails_to(running.sink, addresses).values()))
    time.sleep(1.0)
    assert sum(mails_to(running.sink, addresses).values()) == out
    assert out < len(ids)
    during = sciences.GetCampaign(pb.GetCampaignRequest(id=campaign.id))
    assert during.status == pb.CAMPAIGN_STATUS_PAUSED
    assert during.outcome_counts["pending"] == len(ids) - out
    # A paused campaign is not resumed twice, nor paused twice.
    again = refused(lambda: sciences.PauseCampaign(pb.PauseCampaignRequest(id=campaign.id)))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION

    resumed = sciences.ResumeCampaign(pb.ResumeCampaignRequest(id=campaign.id))
    assert resumed.status == pb.CAMPAIGN_STATUS_RUNNING
    wait_until(
        lambda: (
            sciences.GetCampaign(pb.GetCampaignRequest(id=campaign.id)).status
            == pb.CAMPAIGN_STATUS_DONE
        )
    )
    settle(lambda: sum(mails_to(running.sink, addresses).values()))
    assert mails_to(running.sink, addresses) == Counter(addresses)  # each exactly once
    assert [row.outcome for row in ledger(db, campaign.id)] == ["sent"] * len(ids)
    twice = refused(lambda: sciences.ResumeCampaign(pb.ResumeCampaignRequest(id=campaign.id)))
    assert twice.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cancel_during_a_send_sends_nothing_more_and_gives_every_row_one_outcome(
    running: Running, sciences: Client, db: Database
) -> None:
    ids, addresses = audience(running, 16)
    campaign = new_campaign(sciences, ids)
    sciences.SendNow(pb.SendNowRequest(id=campaign.id))
    wait_until(lambda: sum(mails_to(running.sink, addresses).values()) >= 3)

    cancelled = sciences.CancelCampaign(pb.CancelCampaignRequest(id=campaign.id))
    assert cancelled.status == pb.CAMPAIGN_STATUS_CANCELLED
    # Committed: what is still pending now was in flight (its send had started) ...
    in_flight = [row for row in ledger(db, campaign.id) if row.outcome == "pending"]
    assert all(row.send_started_at is not None for row in in_flight)
    at_cancel = sum(mails_to(running.sink, addresses).values())
    # ... and only those may still reach the relay.
    wait_until(lambda: all(row.outcome != "pending" for row in ledger(db, campaign.id)))
    final = settle(lambda: sum(mails_to(running.sink, addresses).values()))
    assert final - at_cancel <= len(in_flight) <= BATCH
    received = mails_to(running.sink, addresses)
    assert all(count == 1 for count in received.values())  # nobody twice

    rows = ledger(db, campaign.id)
    assert len(rows) == len(ids) and {row.contact_id for row in rows} == set(ids)
    outcomes = Counter(row.outcome for row in rows)
    assert set(outcomes) <= FINAL, outcomes
    assert outcomes["sent"] + outcomes["unconfirmed"] == final
    assert outcomes["cancelled"] == len(ids) - final > 0
    assert all(row.rule == "lifecycle:cancelled" for row in rows if row.outcome == "cancelled")
    after = sciences.GetCampaign(pb.GetCampaignRequest(id=campaign.id))
    assert after.status == pb.CAMPAIGN_STATUS_CANCELLED  # never turned done
    assert sum(after.outcome_counts.values()) == len(ids)
    for call in (
        lambda: sciences.CancelCampaign(pb.CancelCampaignRequest(id=campaign.id)),
        lambda: sciences.ResumeCampaign(pb.ResumeCampaignRequest(id=campaign.id)),
        lambda: sciences.SendNow(pb.SendNowRequest(id=campaign.id)),
    ):
        assert refused(call).code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_draft_is_edited_and_an_edit_is_refused_once_running(
    running: Running, sciences: Client, db: Database
) -> None:
    lettres = Client(running.channel, running.keys.manager("lettres"))
    campaign = new_campaign(sciences, ["x-1", "x-2"])
    assert (campaign.priority, campaign.over_budget) == (5, pb.OVER_BUDGET_DEFER)
    deadline = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    edited = sciences.UpdateCampaign(
        pb.UpdateCampaignRequest(
            id=campaign.id,
            name="Rentrée",
            priority=9,
            deadline=stamp(deadline),
            over_budget=pb.OVER_BUDGET_DROP,
            html_body_template="<p>Bonjour {{ first_name }}</p>",
            audience=pb.Audience(contact_ids=pb.ContactIds(ids=["x-3"])),
        )
    )
    assert (edited.name, edited.priority, edited.over_budget) == ("Rentrée", 9, pb.OVER_BUDGET_DROP)
    assert edited.deadline.ToDatetime(tzinfo=UTC) == deadline
    assert edited.html_body_template == "<p>Bonjour {{ first_name }}</p>"
    assert list(edited.audience.contact_ids.ids) == ["x-3"]
    assert edited.subject_template == campaign.subject_template  # absent: unchanged

    bad = refused(
        lambda: sciences.UpdateCampaign(
            pb.UpdateCampaignRequest(
                id=campaign.id,
                priority=11,
                html_body_template="{{ salary }}",
                deadline=stamp(datetime.now(UTC) - timedelta(hours=1)),
            )
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(bad)) == {"priority", "html_body_template", "deadline"}
    other = refused(
        lambda: lettres.UpdateCampaign(pb.UpdateCampaignRequest(id=campaign.id, name="Mine"))
    )
    assert other.code() == grpc.StatusCode.NOT_FOUND

    sciences.SendNow(pb.SendNowRequest(id=campaign.id))
    late = refused(
        lambda: sciences.UpdateCampaign(pb.UpdateCampaignRequest(id=campaign.id, name="Late"))
    )
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION
    with db.transaction() as session:
        stored = session.get_one(Campaign, campaign.id)
        assert (stored.name, stored.priority, stored.over_budget) == ("Rentrée", 9, "drop")


def test_an_unscheduled_campaign_is_not_started_by_the_scheduler(
    running: Running, sciences: Client, db: Database
) -> None:
    send_at = stamp(datetime.now(UTC) + timedelta(seconds=1.5))
    kept = new_campaign(sciences, ["u-1"])
    dropped = new_campaign(sciences, ["u-2"])
    for campaign in (kept, dropped):
        scheduled = sciences.ScheduleCampaign(
            pb.ScheduleCampaignRequest(id=campaign.id, send_at=send_at)
        )
        assert scheduled.status == pb.CAMPAIGN_STATUS_SCHEDULED
    draft = sciences.UnscheduleCampaign(pb.UnscheduleCampaignRequest(id=dropped.id))
    assert draft.status == pb.CAMPAIGN_STATUS_DRAFT and not draft.HasField("send_at")
    again = refused(
        lambda: sciences.UnscheduleCampaign(pb.UnscheduleCampaignRequest(id=dropped.id))
    )
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION

    # The scheduler is alive: the campaign left scheduled starts on time ...
    wait_until(
        lambda: (
            sciences.GetCampaign(pb.GetCampaignRequest(id=kept.id)).status
            != pb.CAMPAIGN_STATUS_SCHEDULED
        )
    )
    time.sleep(1.0)  # several scheduler syncs
    # ... and the unscheduled one does not.
    assert sciences.GetCampaign(pb.GetCampaignRequest(id=dropped.id)).status == (
        pb.CAMPAIGN_STATUS_DRAFT
    )
    assert ledger(db, dropped.id) == []
    assert len(ledger(db, kept.id)) == 1


def test_a_test_send_reaches_the_callers_own_address_outside_pressure_and_the_ledger(
    running: Running, redis_client: Any, db: Database
) -> None:
    own = f"ana.{uuid.uuid4().hex[:8]}@sciences.example.org"
    manager = Client(running.channel, running.keys.manager("sciences", email=own))
    no_email = Client(running.channel, running.keys.manager("sciences"))
    lettres = Client(running.channel, running.keys.manager("lettres", email=own))
    sample = running.peers.new_contact(
        "sciences", email=f"zoe.{uuid.uuid4().hex[:8]}@example.org", first_name="Zoé <b>"
    )
    foreign = running.peers.new_contact(
        "lettres", email=f"leo.{uuid.uuid4().hex[:8]}@example.org", first_name="Léo"
    )
    request = pb.CreateCampaignRequest(
        name="News",
        purpose="newsletter",
        subject_template="Bonjour {{ first_name }}",
        body_template="Texte pour {{ first_name }}.",
        html_body_template="<p>Texte pour {{ first_name }}.</p>",
        audience=pb.Audience(contact_ids=pb.ContactIds(ids=[sample])),
    )
    campaign = manager.CreateCampaign(request)
    counters = {k: redis_client.dump(k) for k in redis_client.scan_iter(f"{running.prefix}*")}

    reply = manager.SendTestCampaign(
        pb.SendTestCampaignRequest(id=campaign.id, sample_contact_id=sample)
    )
    assert reply.outcome == "sent"
    (mail,) = running.sink.to(own)
    assert mail["Subject"] == "Bonjour Zoé <b>"
    assert mail["Message-ID"] == reply.message_id
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and "Texte pour Zoé <b>." in text.get_content()
    assert html is not None and "<p>Texte pour Zoé &lt;b&gt;.</p>" in html.get_content()
    blank = manager.SendTestCampaign(pb.SendTestCampaignRequest(id=campaign.id))
    assert blank.outcome == "sent"
    assert running.sink.to(own)[1]["Subject"].strip() == "Bonjour"  # no sample: empty fields

    # Outside the pressure budget, and no row of the campaign's own.
    assert {k: redis_client.dump(k) for k in redis_client.scan_iter(f"{running.prefix}*")} == (
        counters
    )
    assert ledger(db, campaign.id) == []
    with db.transaction() as session:
        rows = session.scalars(
            select(Delivery).where(
                Delivery.id.in_([int(reply.delivery_id), int(blank.delivery_id)])
            )
        ).all()
    assert {(r.message_class, r.kind, r.sender, r.outcome) for r in rows} == {
        ("transactional", "test_send", "manager@sciences", "sent")
    }
    assert all(r.contact_id != sample for r in rows)  # the sample contact got nothing

    def code(client: Client, **fields: str) -> grpc.StatusCode:
        call = pb.SendTestCampaignRequest(id=campaign.id, **fields)
        return refused(lambda: client.SendTestCampaign(call)).code()

    assert code(no_email) == grpc.StatusCode.FAILED_PRECONDITION
    assert code(lettres) == grpc.StatusCode.NOT_FOUND
    assert code(manager, sample_contact_id=foreign) == grpc.StatusCode.INVALID_ARGUMENT
    manager.SendNow(pb.SendNowRequest(id=campaign.id))
    assert code(manager) == grpc.StatusCode.FAILED_PRECONDITION
    assert len(running.sink.to(own)) == 2
