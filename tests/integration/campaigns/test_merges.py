"""Two records of one person merged: contacts, consent and campaigns as real processes.

Contacts merges (as a DPO would ask), then consent and campaigns are told under a
service identity, as the gateway does. Consent must then read both records'
histories strictest first; campaigns must count both records' mail in one pressure
budget and mail the person once when a campaign lists both ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from protos.crm.campaigns.v1 import campaigns_pb2 as cpb
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import PURPOSE, TIMEOUT, Peers, Sink, campaigns_process
from tests.integration.campaigns.test_process import Client, new_campaign, wait_settled
from tests.support.stores import redis_prefix
from tests.support.tokens import TestKeys

CAP = 2  # mails per person per window, for these tests


@pytest.fixture(scope="module")
def campaigns(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_client: Any,
    keys: TestKeys,
    peers: Peers,
) -> Iterator[tuple[grpc.Channel, Sink]]:
    """`crm serve campaigns` with a pressure cap of CAP, mailing to a real SMTP server."""
    workdir = tmp_path_factory.mktemp("campaigns-merges")
    prefix = redis_prefix()
    settings = {"PRESSURE_MAX_PER_WINDOW": str(CAP)}
    with campaigns_process(workdir, keys, pg_url, peers, prefix, **settings) as (channel, sink, _):
        yield channel, sink
    delete_keys(redis_client, prefix)


def _auth(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def person(peers: Peers, component: str, address: str) -> str:
    """A new person of `component` with this address, created by its editor."""
    token = peers.keys.issuer.mint(
        f"editor@{component}", component=component, roles=["contact_editor"]
    )
    reply = peers.contacts.CreateContact(
        pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, fields={"email": address}),
        metadata=_auth(token),
        timeout=TIMEOUT,
    )
    assert not reply.joined_existing
    return str(reply.contact.id)


def two_records(peers: Peers, name: str) -> tuple[str, str, str]:
    """Two sciences records of one person (two addresses): (survivor, merged, survivor's)."""
    tag = uuid.uuid4().hex[:8]
    kept, other = f"{name}.{tag}@example.org", f"{name}.{tag}@example.net"
    return person(peers, "sciences", kept), person(peers, "sciences", other), kept


def merge(peers: Peers, survivor: str, merged: str, campaigns: grpc.Channel | None) -> None:
    """What the gateway does: contacts merges (a DPO), then consent and campaigns are told."""
    dpo = peers.keys.issuer.mint("dpo@grouping", roles=["dpo"])
    request = pb.MergeContactsRequest(
        survivor_id=survivor,
        merged_id=merged,
        choices=[pb.MergeChoice(field="email", owner_component="sciences", keep_merged=False)],
    )
    done = peers.contacts.MergeContacts(request, metadata=_auth(dpo), timeout=TIMEOUT)
    assert not done.conflicts and done.survivor.id == survivor
    service = _auth(peers.keys.service("gateway"))
    peers.consent.MergeContacts(
        consent_pb2.MergeContactsRequest(survivor_id=survivor, merged_id=merged),
        metadata=service,
        timeout=TIMEOUT,
    )
    if campaigns is not None:
        Client(campaigns, peers.keys.service("gateway")).MergeContacts(
            cpb.MergeContactsRequest(survivor_id=survivor, merged_id=merged)
        )


def verdicts(peers: Peers, ids: list[str]) -> dict[str, int]:
    reply = peers.consent.CheckBatch(
        consent_pb2.CheckBatchRequest(
            contact_ids=ids,
            channel=consent_pb2.CHANNEL_EMAIL,
            purpose=PURPOSE,
            component_id="sciences",
        ),
        metadata=_auth(peers.keys.service("campaigns")),
        timeout=TIMEOUT,
    )
    return {v.contact_id: v.decision for v in reply.results}


def test_a_withdrawal_on_either_record_wins_after_the_merge(peers: Peers) -> None:
    survivor, merged, _ = two_records(peers, "strict")
    peers.grant(survivor, "sciences")
    peers.withdraw(merged, "sciences")
    assert verdicts(peers, [survivor])[survivor] == consent_pb2.DECISION_CONSENT_GIVEN
    merge(peers, survivor, merged, None)
    after = verdicts(peers, [survivor, merged])
    assert after == {
        survivor: consent_pb2.DECISION_WITHDRAWN,
        merged: consent_pb2.DECISION_WITHDRAWN,
    }
    assert verdicts(peers, [merged]) == {merged: consent_pb2.DECISION_WITHDRAWN}


def test_a_grant_on_one_record_and_nothing_on_the_other_allows(peers: Peers) -> None:
    survivor, merged, _ = two_records(peers, "granted")
    peers.grant(merged, "sciences")
    merge(peers, survivor, merged, None)
    assert verdicts(peers, [survivor, merged]) == {
        survivor: consent_pb2.DECISION_CONSENT_GIVEN,
        merged: consent_pb2.DECISION_CONSENT_GIVEN,
    }


def mail(channel: grpc.Channel, peers: Peers, ids: list[str]) -> dict[str, str]:
    """A sciences campaign to `ids`, sent now and waited for: the outcome of each id."""
    sciences = Client(channel, peers.keys.manager("sciences"))
    campaign = new_campaign(sciences, ids)
    sciences.SendNow(cpb.SendNowRequest(id=campaign.id))
    wait_settled(sciences, campaign.id)
    page = sciences.ListDeliveries(cpb.ListDeliveriesRequest(campaign_id=campaign.id))
    return {d.contact_id: d.outcome for d in page.deliveries}


def test_the_survivors_pressure_counts_the_merged_records_mail(
    peers: Peers, campaigns: tuple[grpc.Channel, Sink]
) -> None:
    channel, sink = campaigns
    survivor, merged, address = two_records(peers, "pressed")
    for contact_id in (survivor, merged):
        peers.grant(contact_id, "sciences")
    # Each record has had one mail: the person has had CAP (2).
    assert mail(channel, peers, [survivor]) == {survivor: "sent"}
    assert mail(channel, peers, [merged]) == {merged: "sent"}
    merge(peers, survivor, merged, channel)
    assert mail(channel, peers, [survivor]) == {survivor: "deferred"}
    assert len(sink.to(address)) == 1


def test_a_campaign_listing_both_records_mails_the_person_once(
    peers: Peers, campaigns: tuple[grpc.Channel, Sink]
) -> None:
    channel, sink = campaigns
    survivor, merged, address = two_records(peers, "listed")
    peers.grant(survivor, "sciences")
    merge(peers, survivor, merged, channel)
    before = sink.count()
    outcomes = mail(channel, peers, [survivor, merged])
    assert sorted(outcomes.values()).count("sent") == 1, outcomes
    assert sink.count() - before == 1
    assert len(sink.to(address)) == 1
