"""Indicators over REST: real contacts and gateway processes on a migrated PostgreSQL database.

The same table as JSON and as CSV, the admin's dimensions and rules, problem+json for bad
input, and the refusals (no aggregate right, the differencing attack) said as 403 problems.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest
from sqlalchemy import text

from meshkit.db import Database
from tests.integration.contacts.aggregate_world import load, random_world
from tests.integration.gateway.harness import Gateway, problem

QUERY = "/v1/indicators?measure=%2A.taxe&statistic=sum&dimension=sector&dimension=year"


@pytest.fixture(scope="module")
def seeded(gateway: Gateway) -> Gateway:
    load(Database(gateway.engine), random_world(21, contacts=150))
    return gateway


def _token(gateway: Gateway, component: str) -> str:
    return gateway.keys.issuer.mint(f"analyst@{component}", component=component, roles=["viewer"])


def test_json_and_csv_give_the_same_table(seeded: Gateway) -> None:
    token = _token(seeded, "droit")
    reply = seeded.api.call("GET", QUERY, token)
    assert reply.status == 200, reply.text
    table = reply.json
    assert table["rules"]["k"] == 5 and table["query"].startswith("sum of *.taxe")
    assert any(c["published"] for c in table["cells"])
    as_csv = seeded.api.call("GET", QUERY, token, headers={"Accept": "text/csv"})
    assert as_csv.status == 200, as_csv.text
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    assert "attachment; filename=" in as_csv.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.body.decode("utf-8"))))
    assert rows[0] == ["sector", "year", "statistic", "published", "reason", "as_of"]
    assert len(rows) == len(table["cells"]) + 1
    for row, cell in zip(rows[1:], table["cells"], strict=True):
        coordinates = [
            "(all)" if c["total"] else ("'" + c["value"] if c["value"][0] == "=" else c["value"])
            for c in cell["coordinates"]
        ]
        assert row == [
            *coordinates,
            cell.get("value", ""),
            "true" if cell["published"] else "false",
            cell.get("reason", ""),
            table["as_of"],
        ]
    # the sector value that starts with "=" is defused in CSV, and only there
    assert any(r[0].startswith("'=") for r in rows[1:])
    again = seeded.api.call("GET", QUERY + "&format=csv", token)
    assert again.body == as_csv.body


def test_refusals_are_403_problems_naming_the_field_never_a_value(seeded: Gateway) -> None:
    token = _token(seeded, "sciences")
    reply = seeded.api.call("GET", "/v1/indicators?measure=droit.secret&statistic=sum", token)
    body = problem(reply, 403)
    assert "droit.secret" in body["detail"]
    assert "987654321" not in reply.text and "MARKER" not in reply.text
    reply = seeded.api.call(
        "GET", "/v1/indicators?measure=%2A.taxe&statistic=sum&dimension=note", token
    )
    assert "droit.note" in problem(reply, 403)["detail"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/indicators?statistic=nope", "statistic"),
        ("/v1/indicators?statistic=percentile&percentile=120", "percentile"),
        ("/v1/indicators?statistic=sum&measure=sciences.sector", "measure"),
        ("/v1/indicators?statistic=count&dimension=nope", "dimensions[0]"),
        (
            "/v1/indicators?statistic=count&dimension=a&dimension=b&dimension=c&dimension=d",
            "dimension",
        ),
        ("/v1/indicators?statistic=count&scope=everywhere", "scope"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(seeded: Gateway, path: str, field: str) -> None:
    body = problem(seeded.api.call("GET", path, _token(seeded, "droit")), 400)
    assert field in [e["field"] for e in body["errors"]]


def test_admins_keep_the_dimensions_and_the_rules(seeded: Gateway) -> None:
    admin, analyst = seeded.keys.admin(), _token(seeded, "droit")
    dimension = {"label_fr": "Genre", "label_en": "Kind", "source": "kind"}
    path = "/v1/indicators/dimensions/genre"
    problem(seeded.api.call("PUT", path, analyst, dimension), 403)
    reply = seeded.api.call("PUT", path, admin, dimension)
    assert reply.status == 200, reply.text
    assert reply.json == {"id": "genre", **dimension}
    listed = seeded.api.call("GET", "/v1/indicators/dimensions", analyst).json["dimensions"]
    assert "genre" in [d["id"] for d in listed]
    wrong = {"label_fr": "x", "label_en": "x", "source": "year", "field": "sciences.sector"}
    body = problem(seeded.api.call("PUT", path, admin, wrong), 400)
    assert [e["field"] for e in body["errors"]] == ["field"]
    assert seeded.api.call("DELETE", path, admin).status == 204
    problem(seeded.api.call("DELETE", path, admin), 404)

    rules = "/v1/indicators/disclosure-rules"
    problem(seeded.api.call("PUT", rules, analyst, {"k": 6, "p": 75}), 403)
    body = problem(seeded.api.call("PUT", rules, admin, {"k": 1, "p": 75}), 400)
    assert [e["field"] for e in body["errors"]] == ["k"]
    body = problem(
        seeded.api.call("PUT", rules, admin, {"k": 5, "p": 80, "min_components": 1}), 400
    )
    assert [e["field"] for e in body["errors"]] == ["min_components"]
    reply = seeded.api.call("PUT", rules, admin, {"k": 6, "p": 75})
    assert reply.status == 200, reply.text
    got = seeded.api.call("GET", rules, analyst).json
    assert (got["k"], got["p"], got["min_components"], got["updated_by"]) == (
        6,
        75,
        2,
        "admin@grouping",
    )
    seeded.api.call("PUT", rules, admin, {"k": 5, "p": 80})


def test_field_policies_carry_the_aggregate_grants(seeded: Gateway) -> None:
    admin = seeded.keys.admin()
    policy = {
        "read": [{"audience": "owner"}],
        "write": [{"audience": "owner"}],
        "aggregate": [{"audience": "grouping"}],
    }
    field = quote("medecine.taxe")
    reply = seeded.api.call("PUT", f"/v1/field-policies/{field}", admin, policy)
    assert reply.status == 200, reply.text
    assert reply.json["aggregate"] == [{"audience": "grouping"}]
    listed = seeded.api.call("GET", "/v1/field-policies?page_size=100", admin).json["policies"]
    assert next(p for p in listed if p["field"] == "medecine.taxe")["aggregate"] == [
        {"audience": "grouping"}
    ]
    changes = seeded.api.call("GET", "/v1/field-policies/changes?field=medecine.taxe", admin).json[
        "changes"
    ]
    assert changes[0]["after"]["aggregate"] == [{"audience": "grouping"}]


def test_the_differencing_attack_is_a_403_problem(seeded: Gateway) -> None:
    token = _token(seeded, "medecine")
    total = "/v1/indicators?measure=%2A.taxe&statistic=sum&scope=grouping"
    assert seeded.api.call("GET", total, token).status == 200
    with seeded.engine.begin() as connection:
        victim = connection.execute(
            text("SELECT contact_id FROM contact_values WHERE field = 'droit.taxe' LIMIT 1")
        ).scalar_one()
        connection.execute(text("DELETE FROM contact_values WHERE contact_id = :c"), {"c": victim})
        connection.execute(text("DELETE FROM aggregate_snapshots"))  # as when the TTL passes
    body = problem(seeded.api.call("GET", total, token), 403)
    assert "fewer than 5 contacts" in body["detail"]
