"""GET /v1/pressure/dashboard through the real gateway and campaigns: JSON, CSV, refusals.

The month is seeded straight into campaigns' database and rolled up there (as the
leader's job would); the gateway reads it over gRPC with the caller's token.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from meshkit.db import Database
from services.campaigns.models import Delivery
from services.campaigns.pressure_rollup import PressureRollups
from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, B, Gateway, problem
from tests.support.ledger import done_campaign, sent_row

pytestmark = pytest.mark.skipif(
    not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
)
PATH = "/v1/pressure/dashboard"
MONTH = "2025-05"
FORMULA = "=HYPERLINK(1)"  # a purpose as a spreadsheet would run it


@pytest.fixture(scope="module")
def seeded(gateway: Gateway) -> None:
    db = Database(gateway.databases["campaigns"])
    start = datetime(2025, 5, 5, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    with db.transaction() as session:
        for component in (A, B):
            for purpose in ("newsletter", FORMULA):
                campaign = done_campaign(
                    session, component, purpose, start - timedelta(days=30), "may"
                )
                for i in range(30):
                    at = start + timedelta(hours=i * 5)
                    rows.append(sent_row(campaign, f"may-{i}", at))
        session.execute(insert(Delivery), rows)
    PressureRollups(db, None, timedelta(days=7)).recompute(MONTH)


def communication(gateway: Gateway) -> str:
    return gateway.keys.issuer.mint("com@grouping", roles=["communication"])


def test_the_grouping_reads_the_dashboard_as_json(gateway: Gateway, seeded: None) -> None:
    reply = gateway.api.call("GET", f"{PATH}?month={MONTH}", communication(gateway))
    assert reply.status == 200, reply.text
    body = reply.json
    assert (body["month"], body["component"], body["k"], body["p"]) == (MONTH, "", 5, 80)
    assert body["computed_at"].endswith("Z")
    figures = body["figures"]
    reached = [
        f
        for f in figures
        if f["series"] == "contacts_reached" and not f["component"] and not f["purpose"]
    ]
    assert reached == [
        {
            "series": "contacts_reached",
            "component": "",
            "purpose": "",
            "bucket": "",
            "published": True,
            "value": 30,
        }
    ]
    for figure in figures:
        assert ("value" in figure) is figure["published"]
        assert ("reason" in figure) is not figure["published"]
    assert "may-" not in reply.text


@pytest.mark.parametrize("how", ["accept", "format"])
def test_the_dashboard_as_csv(gateway: Gateway, seeded: None, how: str) -> None:
    path = f"{PATH}?month={MONTH}&component={A}"
    headers = {"Accept": "text/csv"}
    if how == "format":
        path, headers = f"{path}&format=csv", {}
    staff = gateway.keys.manager(A)
    reply = gateway.api.call("GET", path, staff, headers=headers)
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/csv; charset=utf-8")
    assert reply.headers["Content-Disposition"] == (
        f'attachment; filename="pressure-{MONTH}-{A}.csv"'
    )
    text = reply.body.decode("utf-8")
    assert text.startswith("series,component,purpose,bucket,published,value,reason\r\n")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    as_json = gateway.api.call("GET", f"{PATH}?month={MONTH}&component={A}", staff).json
    assert len(rows) == len(as_json["figures"]) > 0
    assert {r["component"] for r in rows} == {A}
    # the formula-like purpose is defused, not run
    purposes = {r["purpose"] for r in rows}
    assert f"'{FORMULA}" in purposes and FORMULA not in purposes


def test_who_may_read_which_view(gateway: Gateway, seeded: None) -> None:
    staff = gateway.keys.manager(A)
    for path in (f"{PATH}?month={MONTH}", f"{PATH}?month={MONTH}&component={B}"):
        refused = problem(gateway.api.call("GET", path, staff), 403)
        assert "may-" not in str(refused)
    grouping_dpo = gateway.keys.issuer.mint("dpo@grouping", roles=["dpo"])
    assert gateway.api.call("GET", f"{PATH}?month={MONTH}", grouping_dpo).status == 200
    assert gateway.api.call("GET", f"{PATH}?month={MONTH}", gateway.keys.admin()).status == 200
    problem(gateway.api.call("GET", f"{PATH}?month=2025-13", communication(gateway)), 400)
    problem(gateway.api.call("GET", f"{PATH}?month={MONTH}"), 401)
