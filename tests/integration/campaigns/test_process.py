"""`crm serve campaigns` as a real process, called over gRPC with real tokens, with the real
contacts and consent processes as its peers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from protos.crm.campaigns.v1 import campaigns_pb2_grpc
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import Peers, Sink, campaigns_process
from tests.support.stores import redis_prefix
from tests.support.tokens import TestKeys


class Client:
    """The campaigns stub with one caller's token."""

    def __init__(self, channel: grpc.Channel, token: str | None):
        self._stub = campaigns_pb2_grpc.CampaignsServiceStub(channel)
        self._metadata = [("authorization", f"Bearer {token}")] if token else []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        return lambda request: method(request, metadata=self._metadata, timeout=10)


@pytest.fixture(scope="module")
def running(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_client: Any,
    keys: TestKeys,
    peers: Peers,
) -> Iterator[tuple[grpc.Channel, TestKeys, Peers, Sink, Path]]:
    workdir = tmp_path_factory.mktemp("campaigns-process")
    prefix = redis_prefix()
    settings = {"SCHEDULER_SYNC_SECONDS": "0.3"}
    with campaigns_process(workdir, keys, pg_url, peers, prefix, **settings) as (
        channel,
        sink,
        log,
    ):
        yield channel, keys, peers, sink, log
    delete_keys(redis_client, prefix)


@pytest.fixture
def sciences(running: Any) -> Client:
    channel, keys, *_ = running
    return Client(channel, keys.manager("sciences"))


@pytest.fixture
def lettres(running: Any) -> Client:
    channel, keys, *_ = running
    return Client(channel, keys.manager("lettres"))


def new_campaign(client: Client, ids: list[str], **fields: Any) -> pb.Campaign:
    request = pb.CreateCampaignRequest(
        name="News",
        purpose="newsletter",
        subject_template="Bonjour {{ first_name }}",
        body_template="Texte",
        audience=pb.Audience(contact_ids=pb.ContactIds(ids=ids)),
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return client.CreateCampaign(request)  # type: ignore[no-any-return]


def violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.update({v.field: v.description for v in bad_request.field_violations})
    return found


def consenting_person(peers: Peers, name: str) -> tuple[str, str]:
    """A sciences contact with an address of this run alone, consenting; (id, address)."""
    address = f"{name.lower()}.{uuid.uuid4().hex[:8]}@example.org"
    contact_id = peers.new_contact("sciences", email=address, first_name=name)
    peers.grant(contact_id, "sciences")
    return contact_id, address


def wait_status(client: Client, campaign_id: str, status: int, timeout: float = 30) -> pb.Campaign:
    deadline = time.monotonic() + timeout
    while True:
        campaign = client.GetCampaign(pb.GetCampaignRequest(id=campaign_id))
        if campaign.status == status:
            return campaign  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise TimeoutError(f"campaign stayed {pb.CampaignStatus.Name(campaign.status)}")
        time.sleep(0.05)


def wait_settled(client: Client, campaign_id: str, timeout: float = 30) -> pb.Campaign:
    """Waits until no recipient is pending: every one sent, decided, or deferred to later."""
    deadline = time.monotonic() + timeout
    while True:
        campaign = client.GetCampaign(pb.GetCampaignRequest(id=campaign_id))
        counts = dict(campaign.outcome_counts)
        if counts and not counts.get("pending"):
            return campaign  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise TimeoutError(f"campaign still has pending recipients: {counts}")
        time.sleep(0.05)


def test_a_campaign_is_created_read_and_listed(sciences: Client) -> None:
    created = new_campaign(sciences, ["a", "b", "a"])
    assert created.status == pb.CAMPAIGN_STATUS_DRAFT
    assert list(created.audience.contact_ids.ids) == ["a", "b"]
    assert (created.owner_component, created.created_by) == ("sciences", "manager@sciences")
    assert sciences.GetCampaign(pb.GetCampaignRequest(id=created.id)) == created
    listed = sciences.ListCampaigns(pb.ListCampaignsRequest()).campaigns
    assert created.id in [c.id for c in listed]


def test_bad_input_gets_field_violations_and_writes_nothing(sciences: Client) -> None:
    before = len(sciences.ListCampaigns(pb.ListCampaignsRequest()).campaigns)
    with pytest.raises(grpc.RpcError) as raised:
        sciences.CreateCampaign(
            pb.CreateCampaignRequest(name="", purpose="Bad Purpose", subject_template="{{ iban }}")
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {
        "name",
        "purpose",
        "subject_template",
        "body_template",
        "audience",
    }
    assert len(sciences.ListCampaigns(pb.ListCampaignsRequest()).campaigns) == before

    campaign = new_campaign(sciences, ["a"])
    past = Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    calls = [
        lambda: sciences.ScheduleCampaign(pb.ScheduleCampaignRequest(id=campaign.id)),
        lambda: sciences.ScheduleCampaign(pb.ScheduleCampaignRequest(id=campaign.id, send_at=past)),
        lambda: sciences.SendNow(pb.SendNowRequest(id="")),
        lambda: sciences.ListDeliveries(
            pb.ListDeliveriesRequest(campaign_id=campaign.id, page_token="nope")
        ),
        lambda: sciences.GetCampaign(pb.GetCampaignRequest(id="x" * 65)),
    ]
    for call, field in zip(calls, ["send_at", "send_at", "id", "page_token", "id"], strict=True):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert list(violations(raised.value)) == [field]
    again = sciences.GetCampaign(pb.GetCampaignRequest(id=campaign.id))
    assert again.status == pb.CAMPAIGN_STATUS_DRAFT


def test_another_components_campaign_is_not_found(sciences: Client, lettres: Client) -> None:
    campaign = new_campaign(sciences, ["a"])
    in_future = Timestamp()
    in_future.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    for call in (
        lambda c: c.GetCampaign(pb.GetCampaignRequest(id=campaign.id)),
        lambda c: c.SendNow(pb.SendNowRequest(id=campaign.id)),
        lambda c: c.ScheduleCampaign(pb.ScheduleCampaignRequest(id=campaign.id, send_at=in_future)),
        lambda c: c.ListDeliveries(pb.ListDeliveriesRequest(campaign_id=campaign.id)),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call(lettres)
        assert raised.value.code() is grpc.StatusCode.NOT_FOUND
        assert raised.value.details() == "campaign not found"
    assert campaign.id not in [
        c.id for c in lettres.ListCampaigns(pb.ListCampaignsRequest()).campaigns
    ]
    assert sciences.GetCampaign(pb.GetCampaignRequest(id=campaign.id)).status == (
        pb.CAMPAIGN_STATUS_DRAFT
    )


def test_a_call_without_a_token_is_unauthenticated(running: Any) -> None:
    channel, *_ = running
    with pytest.raises(grpc.RpcError) as raised:
        Client(channel, None).ListCampaigns(pb.ListCampaignsRequest())
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_send_now_mails_through_the_relay_and_records_the_ledger(
    sciences: Client, running: Any
) -> None:
    _, _, peers, sink, log_file = running
    ada, address = consenting_person(peers, "Ada")
    ghost = str(uuid.uuid4())
    campaign = new_campaign(sciences, [ada, ghost])
    started = sciences.SendNow(pb.SendNowRequest(id=campaign.id))
    assert started.status == pb.CAMPAIGN_STATUS_RUNNING
    with pytest.raises(grpc.RpcError) as raised:
        sciences.SendNow(pb.SendNowRequest(id=campaign.id))
    assert raised.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    done = wait_status(sciences, campaign.id, pb.CAMPAIGN_STATUS_DONE)
    assert dict(done.outcome_counts) == {"sent": 1, "not_member": 1}
    page = sciences.ListDeliveries(pb.ListDeliveriesRequest(campaign_id=campaign.id))
    rows = {d.contact_id: d for d in page.deliveries}
    assert (rows[ada].outcome, rows[ghost].outcome) == (
        "sent",
        "not_member",
    )  # unknown ids read as not_member
    (mail,) = sink.to(address)
    assert mail["Subject"] == "Bonjour Ada"
    assert mail["Message-ID"] == rows[ada].message_id
    assert rows[ada].decided_at.seconds > 0
    assert address not in log_file.read_text()  # logs name ids, never addresses


def test_a_scheduled_campaign_starts_on_time(sciences: Client, running: Any) -> None:
    _, _, peers, sink, _ = running
    bea, address = consenting_person(peers, "Bea")
    campaign = new_campaign(sciences, [bea])
    when = Timestamp()
    when.FromDatetime(datetime.now(UTC) + timedelta(seconds=1))
    scheduled = sciences.ScheduleCampaign(pb.ScheduleCampaignRequest(id=campaign.id, send_at=when))
    assert (scheduled.status, scheduled.send_at) == (pb.CAMPAIGN_STATUS_SCHEDULED, when)
    wait_status(sciences, campaign.id, pb.CAMPAIGN_STATUS_DONE)
    assert len(sink.to(address)) == 1
