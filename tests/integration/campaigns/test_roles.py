"""Campaigns checks the role itself: a campaign write over direct gRPC needs campaign_manager.

The gateway checks first, but a caller may reach the service directly: a token
acting for a component without the role gets PERMISSION_DENIED and nothing is
written, while any token of the component still reads its campaigns.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select

from meshkit.db import Database
from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from services.campaigns.models import Campaign, Delivery
from tests.integration.campaigns.test_process import Client, new_campaign
from tests.integration.campaigns.test_process import running as running  # the process fixture

NOT_MANAGERS = {"staff": ["staff"], "no role": [], "everything else": ["admin", "dpo", "viewer"]}


@pytest.fixture
def manager(running: Any) -> Client:
    channel, keys, *_ = running
    return Client(channel, keys.manager("sciences"))


@pytest.fixture(params=sorted(NOT_MANAGERS))
def not_manager(running: Any, request: pytest.FixtureRequest) -> Iterator[Client]:
    channel, keys, *_ = running
    roles = NOT_MANAGERS[request.param]
    yield Client(channel, keys.issuer.mint("bob@sciences", component="sciences", roles=roles))


def counts(db: Database) -> tuple[int, int, int]:
    with db.transaction() as session:
        campaigns = session.scalar(select(func.count()).select_from(Campaign)) or 0
        scheduled = (
            session.scalar(
                select(func.count()).select_from(Campaign).where(Campaign.status != "draft")
            )
            or 0
        )
        deliveries = session.scalar(select(func.count()).select_from(Delivery)) or 0
    return int(campaigns), int(scheduled), int(deliveries)


def refused(call: Any) -> str:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    details: str = raised.value.details()
    return details


def test_campaign_writes_without_the_role_are_denied_and_write_nothing(
    manager: Client, not_manager: Client, db: Database
) -> None:
    draft = new_campaign(manager, ["a", "b"])
    before = counts(db)
    when = Timestamp()
    when.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    for call in (
        lambda: new_campaign(not_manager, ["a"]),
        lambda: not_manager.ScheduleCampaign(pb.ScheduleCampaignRequest(id=draft.id, send_at=when)),
        lambda: not_manager.SendNow(pb.SendNowRequest(id=draft.id)),
    ):
        assert "campaign_manager" in refused(call)
    assert counts(db) == before
    assert manager.GetCampaign(pb.GetCampaignRequest(id=draft.id)).status == (
        pb.CAMPAIGN_STATUS_DRAFT
    )
    # Reading its component's campaigns needs no particular role.
    assert not_manager.GetCampaign(pb.GetCampaignRequest(id=draft.id)).id == draft.id
    listed = not_manager.ListCampaigns(pb.ListCampaignsRequest()).campaigns
    assert draft.id in {c.id for c in listed}


def test_the_role_is_checked_before_the_input(not_manager: Client, db: Database) -> None:
    """An unauthorised caller learns nothing from validation: bad input is still a 403."""
    before = counts(db)
    refused(lambda: new_campaign(not_manager, [], name=""))
    refused(lambda: not_manager.ScheduleCampaign(pb.ScheduleCampaignRequest(id="x")))
    assert counts(db) == before


def test_a_service_token_keeps_what_it_could_do(running: Any, manager: Client) -> None:
    channel, keys, *_ = running
    service = Client(channel, keys.service("gateway"))
    # A service acts for no component: it cannot write campaigns, as before.
    with pytest.raises(grpc.RpcError) as raised:
        new_campaign(service, ["a"])
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
