"""The gateway's request id, access log and HTTP metrics, on every answer."""

from __future__ import annotations

import logging
import re

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from tests.unit.gateway.harness import assert_problem

FRESH = re.compile(r"[0-9a-f]{32}")


def test_an_answer_without_an_id_gets_a_fresh_one(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert FRESH.fullmatch(first) and FRESH.fullmatch(second)
    assert first != second


def test_a_valid_id_comes_back_as_given_even_on_a_problem(client: FlaskClient) -> None:
    reply = client.get("/v1/contacts/c-1", headers={"X-Request-Id": "trace-1/a.b"})
    assert_problem(reply, 401)  # no token: refused before any upstream call
    assert reply.headers["X-Request-Id"] == "trace-1/a.b"
    unknown = client.get("/no/such/route", headers={"X-Request-Id": "trace-2"})
    assert_problem(unknown, 404)
    assert unknown.headers["X-Request-Id"] == "trace-2"


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "é-accent", ""])
def test_a_malformed_id_is_replaced(client: FlaskClient, bad: str) -> None:
    kept = client.get("/healthz", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
    assert kept != bad and FRESH.fullmatch(kept)


def test_one_access_line_per_request_with_the_route_template_only(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services.gateway.access")
    client.get(
        "/v1/contacts/c-secret-id?email=marie.dupont@example.org",
        headers={"Authorization": "Bearer not-a-token", "X-Request-Id": "r-1"},
    )
    (line,) = [r.getMessage() for r in caplog.records if r.name == "services.gateway.access"]
    assert line.startswith("GET /v1/contacts/<contact_id> 401 ")
    assert re.search(r" \d+\.\dms ", line)
    assert line.endswith("component=-")
    for secret in ("c-secret-id", "marie.dupont", "not-a-token", "email="):
        assert secret not in line
    caplog.clear()
    client.get("/healthz")  # probed every few seconds: not logged
    assert [r for r in caplog.records if r.name == "services.gateway.access"] == []


def _requests(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("crm_http_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_template_and_status(client: FlaskClient) -> None:
    before = _requests("/v1/contacts/<contact_id>", "401")
    unmatched = _requests("<unmatched>", "404")
    client.get("/v1/contacts/a")
    client.get("/v1/contacts/b")
    client.get("/anything/else")
    assert _requests("/v1/contacts/<contact_id>", "401") == before + 2
    assert _requests("<unmatched>", "404") == unmatched + 1
    timed = REGISTRY.get_sample_value(
        "crm_http_request_duration_seconds_count",
        {"method": "GET", "route": "/v1/contacts/<contact_id>"},
    )
    assert timed is not None and timed >= 2
