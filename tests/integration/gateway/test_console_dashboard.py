"""The console's pressure dashboard over real HTTP against the real campaigns service: the
page (and its CSV) shows what GetPressureDashboard publishes, nothing more; B's staff
cannot open A's dashboard (by editing the URL either), nor the grouping's."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import grpc

from protos.crm.campaigns.v1 import pressure_pb2, pressure_pb2_grpc
from tests.integration.gateway.harness import A, B, Gateway
from tests.support.console import person

MONTH = "2026-10"


def grpc_dashboard(gateway: Gateway, token: str, component: str) -> Any:
    with grpc.insecure_channel(gateway.targets["campaigns"]) as channel:
        stub = pressure_pb2_grpc.PressurePolicyServiceStub(channel)
        request = pressure_pb2.GetPressureDashboardRequest(month=MONTH, component=component)
        return stub.GetPressureDashboard(
            request, metadata=[("authorization", f"Bearer {token}")], timeout=20
        )


def test_the_grouping_dashboard_is_campaigns_answer(gateway: Gateway) -> None:
    client = gateway.console()
    client.sign_in(person(None, "communication", email="com@univ.example"))
    page = client.get(f"/console/pressure/dashboard/?month={MONTH}&component=")
    assert page.status == 200, page.text
    token = gateway.keys.issuer.mint("com@grouping", roles=["communication"])
    answer = grpc_dashboard(gateway, token, "")
    assert f'data-k="{answer.k}" data-p="{answer.p}"' in page.html
    download = client.get(f"/console/pressure/dashboard/dashboard.csv?month={MONTH}&component=")
    assert download.status == 200, download.text
    rows = list(csv.DictReader(io.StringIO(download.body.decode("utf-8-sig"))))
    expected = [
        (f.series, f.component, f.purpose, f.bucket, str(f.value) if f.published else "")
        for f in answer.figures
    ]
    assert [(r["series"], r["component"], r["purpose"], r["bucket"], r["value"]) for r in rows] == (
        expected
    )
    html = page.html
    monthly = html[html.index('id="messages_per_month"') : html.index('id="h-breakdown"')]
    drawn = dict(
        re.findall(r'class="chart-label" data-key="([^"]*)" data-value="([^"]*)"', monthly)
    )
    assert drawn == {
        f.bucket: str(f.value)
        for f in answer.figures
        if f.series == "messages_per_month" and not f.component and not f.purpose and f.published
    }


def test_bs_staff_cannot_see_as_dashboard(gateway: Gateway) -> None:
    client = gateway.console()
    client.sign_in(person(B, "campaign_manager", email="m-b@univ.example"))
    own = client.get(f"/console/pressure/dashboard/?month={MONTH}")
    assert own.status == 200, own.text
    assert f"composante {B}" in own.text.lower() or B in own.text
    for component in (A, ""):
        refused = client.get(f"/console/pressure/dashboard/?month={MONTH}&component={component}")
        assert refused.status == 403, (component, refused.status)
        assert "Traceback" not in refused.html and 'id="breakdown"' not in refused.html
        csv_refused = client.get(
            f"/console/pressure/dashboard/dashboard.csv?month={MONTH}&component={component}"
        )
        assert csv_refused.status == 403
