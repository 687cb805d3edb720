"""What the console's preview page asks of campaigns: one page of recipients, no count.

A fake CampaignsService records every request: the page must ask for the header
without the audience's ids, ONE page of at most 100 recipients with
skip_counts, and the reach snapshot (never the whole-audience count of the
preview's first page), whatever page size the URL asks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from protos.crm.campaigns.v1 import campaigns_pb2_grpc
from services.gateway.settings import GatewaySettings
from tests.support.console import person
from tests.support.oidc import TestProvider
from tests.support.tokens import TestKeys
from tests.unit.gateway.conftest import AUDIENCE, ISSUER
from tests.unit.gateway.console.conftest import csrf_of, get, post
from tests.unit.gateway.console.test_sign_in import sign_in
from tests.unit.gateway.harness import UNSUBSCRIBE_SECRET

CAMPAIGN = "7b0e1c1e-0000-4000-8000-000000000001"


class FakeCampaigns(campaigns_pb2_grpc.CampaignsServiceServicer):
    """Answers the preview page's three calls and notes each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.reach = pb.Reach(status="counting", audience=100_000, evaluated=3000)

    def GetCampaign(self, request: pb.GetCampaignRequest, context: Any) -> pb.Campaign:
        self.requests.append(("GetCampaign", request))
        reply = pb.Campaign(id=request.id, name="Rentrée", owner_component="sciences")
        if request.summary:
            reply.audience.contact_ids.SetInParent()
        else:
            reply.audience.contact_ids.ids.extend(f"c{i}" for i in range(100_000))
        return reply

    def PreviewCampaign(
        self, request: pb.PreviewCampaignRequest, context: Any
    ) -> pb.PreviewCampaignResponse:
        self.requests.append(("PreviewCampaign", request))
        reply = pb.PreviewCampaignResponse(audience=100_000, next_page_token="")
        for i in range(min(request.page_size or 100, 1000)):
            reply.recipients.add(contact_id=f"c{i:06d}", outcome="sent", rule="")
        if not request.skip_counts:
            reply.counts["sent"] = 100_000
        return reply

    def GetReach(self, request: pb.GetReachRequest, context: Any) -> pb.Reach:
        self.requests.append(("GetReach", request))
        return self.reach

    def asked(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeCampaigns, str]]:
    servicer = FakeCampaigns()
    server = grpc.server(ThreadPoolExecutor(2))
    campaigns_pb2_grpc.add_CampaignsServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


@pytest.fixture(scope="module")
def settings(keys: TestKeys, fake: tuple[FakeCampaigns, str]) -> GatewaySettings:
    """The unit tier's settings, every upstream being the fake campaigns."""
    _, target = fake
    return GatewaySettings(
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=keys.public_file,
        service_keys_file=keys.service_keys_file,
        service_private_key_file=keys.service_private_file("gateway"),
        contacts_target=target,
        consent_target=target,
        campaigns_target=target,
        rpc_timeout_seconds=2.0,
        unsubscribe_secret=UNSUBSCRIBE_SECRET,
    )


def test_the_preview_page_asks_one_page_without_counts_and_the_reach(
    browser: Any, provider: TestProvider, fake: tuple[FakeCampaigns, str]
) -> None:
    servicer, _ = fake
    servicer.requests.clear()
    servicer.reach = pb.Reach(status="counting", audience=100_000, evaluated=3000)
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    page = get(browser, f"/console/campaigns/{CAMPAIGN}/preview?page_size=100000")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html

    (header,) = servicer.asked("GetCampaign")
    assert header.summary  # no 100,000 ids in the header
    (listed,) = servicer.asked("PreviewCampaign")  # one page, once
    assert listed.skip_counts and 0 < listed.page_size <= 100
    (reach,) = servicer.asked("GetReach")
    assert not reach.refresh
    assert html.count('<tr class="recipient"') == listed.page_size
    # Counting: progress shown, the page reloads itself, no chart yet.
    assert page.headers["Refresh"] == "2"
    assert 'data-status="counting"' in html and "3000" in html and "100000" in html
    assert "chart-label" not in html

    # Counted: the chart from the snapshot, no reload; "count again" asks a refresh.
    servicer.reach = pb.Reach(
        status="done", audience=100_000, evaluated=100_000, counts={"sent": 99_000, "capped": 1000}
    )
    servicer.reach.finished_at.FromJsonString("2026-11-29T01:00:00Z")
    counted = get(browser, f"/console/campaigns/{CAMPAIGN}/preview")
    html = counted.get_data(as_text=True)
    assert "Refresh" not in counted.headers
    assert 'data-key="sent" data-value="99000"' in html
    assert 'data-key="capped" data-value="1000"' in html
    assert "2026-11-29 01:00 UTC" in html
    servicer.requests.clear()
    again = post(
        browser, f"/console/campaigns/{CAMPAIGN}/preview/reach", {"csrf_token": csrf_of(html)}
    )
    assert again.status_code == 303
    assert again.headers["Location"].endswith(f"/console/campaigns/{CAMPAIGN}/preview")
    assert [m for m, _ in servicer.requests] == ["GetReach"]
    assert servicer.asked("GetReach")[0].refresh


def test_count_again_without_its_csrf_token_asks_nothing(
    browser: Any, provider: TestProvider, fake: tuple[FakeCampaigns, str]
) -> None:
    servicer, _ = fake
    sign_in(browser, provider, person("sciences", "campaign_manager"))
    servicer.requests.clear()
    refused = post(browser, f"/console/campaigns/{CAMPAIGN}/preview/reach", {})
    assert refused.status_code in (400, 403)
    assert servicer.requests == []
