"""The console's indicators over real HTTP against the real contacts service.

An admin declares a number attribute, grants the whole grouping the right to aggregate it
(through the console's field-policy form) and defines a dimension (the console's admin
form); both components write values. The page's published cells must be the ones
contacts' Aggregate answers over gRPC to the same kind of caller; no suppressed value
(known to the test from its own data) may appear anywhere in the page or its CSV; a
component without the aggregate right on a field sees contacts' refusal, with 403.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any
from urllib.parse import urlencode

import grpc
import pytest

from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from tests.integration.gateway.harness import A, B, Gateway
from tests.support.console import ConsoleClient, person

TAX = "tax"  # A's attribute: its values are A's whoever writes them (one component)
SECRET_FIELD = "secret_amount"  # A's attribute nobody else may aggregate
# (job title, values of the tax written by A, by B): a job of two A people is never published.
PEOPLE = {
    "ingénieur": ([1100, 1200, 1300, 1400], [2100, 2200, 2300, 2400]),
    "chercheur": ([1500, 1600, 1700, 1800], [2500, 2600, 2700, 2800]),
    "directrice": ([77731, 88847], []),
}
HIDDEN = ("77731", "88847", str(77731 + 88847))
BY_JOB = {"statistic": "count", "measure": "", "scope": "grouping", "d1": "job"}


def grpc_aggregate(gateway: Gateway, token: str, request: pb.AggregateRequest) -> Any:
    with grpc.insecure_channel(gateway.targets["contacts"]) as channel:
        stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        return stub.Aggregate(request, metadata=[("authorization", f"Bearer {token}")], timeout=20)


def _rows(html: str, published: str) -> list[tuple[str, ...]]:
    pattern = rf'<tr class="cell[^"]*" data-published="{published}"[^>]*>(.*?)</tr>'
    found = []
    for row in re.findall(pattern, html, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        found.append(tuple(re.sub(r"<[^>]+>", "", td).strip() for td in cells))
    return found


def published_rows(html: str) -> list[tuple[str, ...]]:
    """(coordinates..., value) of each published row of the page's table."""
    return _rows(html, "true")


def suppressed_rows(html: str) -> list[tuple[str, ...]]:
    """(coordinates..., reason) of each suppressed row."""
    return _rows(html, "false")


@pytest.fixture(scope="module")
def seeded(gateway: Gateway) -> dict[str, str]:
    admin_token = gateway.keys.admin()
    fields = {}
    for key in (TAX, SECRET_FIELD):
        declared = gateway.api.call(
            "PUT",
            f"/v1/components/{A}/attributes/{key}",
            admin_token,
            {"type": "number", "label_fr": key, "label_en": key},
        )
        assert declared.status == 200, declared.text
        fields[key] = f"{A}.{key}"
    admin = gateway.console()
    admin.sign_in(person(None, "admin", email="admin@univ.example"))
    policies = {
        fields[TAX]: {"read": "owner", "write": "grouping", "aggregate": "grouping"},
        fields[SECRET_FIELD]: {"read": "owner", "write": "grouping", "aggregate": ""},
        "job_title": {"read": "owner", "write": "owner", "aggregate": "grouping"},
    }
    for field, grants in policies.items():
        admin.get(f"/console/admin/field-policies/edit?field={field}")
        saved = admin.post("/console/admin/field-policies/edit", {"field": field, **grants})
        assert saved.status == 303, saved.html
    admin.get("/console/admin/indicators/dimensions")
    for dimension in (
        {"id": "kind", "label_fr": "Type", "label_en": "Kind", "source": "kind", "field": ""},
        {"id": "job", "label_fr": "Fonction", "label_en": "Job", "source": "field",
         "field": "job_title"},
    ):  # fmt: skip
        created = admin.post("/console/admin/indicators/dimensions", dimension)
        assert created.status == 303, created.html
    for job, (by_a, by_b) in PEOPLE.items():
        for component, values in ((A, by_a), (B, by_b)):
            for value in values:
                written = {"job_title": job, fields[TAX]: str(value),
                           fields[SECRET_FIELD]: str(value)}  # fmt: skip
                _contact(gateway, component, written)
    return fields


def _contact(gateway: Gateway, component: str, fields: dict[str, str]) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    body = {"kind": "person", "fields": {"email": email, **fields}}
    created = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(component), body)
    assert created.status == 201, created.text


def _communication(gateway: Gateway) -> ConsoleClient:
    client = gateway.console()
    client.sign_in(person(None, "communication", email="com@univ.example"))
    return client


def test_the_page_publishes_what_contacts_publishes_and_nothing_hidden(
    gateway: Gateway, seeded: dict[str, str]
) -> None:
    client = _communication(gateway)
    page = client.get("/console/indicators/?" + urlencode(BY_JOB))
    assert page.status == 200, page.text
    token = gateway.keys.issuer.mint("com-grpc@grouping", roles=["communication"])
    asked = pb.AggregateRequest(statistic=pb.STATISTIC_COUNT, dimensions=["job"],
                                scope=pb.AGGREGATE_SCOPE_GROUPING)  # fmt: skip
    answer = grpc_aggregate(gateway, token, asked)
    expected = [
        (*[("Total" if c.total else c.value) for c in cell.coordinates], cell.value)
        for cell in answer.cells
        if cell.published
    ]
    hidden = [cell for cell in answer.cells if not cell.published]
    assert expected and hidden, answer
    assert published_rows(page.html) == expected
    # A suppressed row: its coordinates and a reason, not a digit.
    rules = answer.rules
    reasons = {
        f"masqué : moins de {rules.k} contacts",
        f"masqué : moins de {rules.min_components} composantes",
        f"masqué : un contributeur dépasse {rules.p} %",
        "masqué : protège une autre case masquée",
    }
    for row in suppressed_rows(page.html):
        assert row[-1] in reasons, row
    assert len(suppressed_rows(page.html)) == len(hidden)
    drawn = re.findall(r'class="chart-label" data-key="([^"]*)"', page.html)
    assert drawn == [row[0] for row in expected if row[0] != "Total"]
    assert "directrice" not in drawn
    assert f'data-k="{answer.rules.k}" data-p="{answer.rules.p}"' in page.html

    link = re.search(r'id="csv" href="([^"]+)"', page.html)
    assert link is not None
    download = client.get(link.group(1).replace("&amp;", "&"))
    assert download.status == 200, download.text
    rows = list(csv.DictReader(io.StringIO(download.body.decode("utf-8-sig"))))
    assert [(r["job"] or "Total", r["value"]) for r in rows if r["published"] == "true"] == [
        (row[0], row[-1]) for row in expected
    ]
    assert all(r["value"] == "" and r["reason"] for r in rows if r["published"] == "false")


def test_a_sum_of_one_components_values_shows_no_value_anywhere(
    gateway: Gateway, seeded: dict[str, str]
) -> None:
    client = _communication(gateway)
    query = {"statistic": "sum", "measure": seeded[TAX], "scope": "grouping", "d1": "job"}
    page = client.get("/console/indicators/?" + urlencode(query))
    assert page.status == 200, page.text
    assert 'data-published="false"' in page.html
    download = client.get("/console/indicators/indicators.csv?" + urlencode(query))
    assert download.status == 200, download.text
    for hidden in HIDDEN:
        assert hidden not in page.html and hidden.encode() not in download.body


def test_a_component_without_the_aggregate_right_sees_the_refusal(
    gateway: Gateway, seeded: dict[str, str]
) -> None:
    client = gateway.console()
    client.sign_in(person(B, "campaign_manager", email="m-b@univ.example"))
    query = {"statistic": "sum", "measure": seeded[SECRET_FIELD], "scope": "grouping"}
    page = client.get("/console/indicators/?" + urlencode(query))
    assert page.status == 403, page.text
    assert 'id="refusal" data-status="403"' in page.html
    assert seeded[SECRET_FIELD] in page.text  # contacts' message names the field
    assert 'id="cells"' not in page.html and "Traceback" not in page.html
    for by_a, _ in PEOPLE.values():
        assert all(str(value) not in page.html for value in by_a)


def test_a_bare_visit_records_no_query(gateway: Gateway, seeded: dict[str, str]) -> None:
    def audited() -> int:
        with gateway.engine.connect() as connection:
            return int(
                connection.exec_driver_sql("SELECT count(*) FROM aggregate_audit").scalar_one()
            )

    client = _communication(gateway)
    asked = client.get("/console/indicators/?" + urlencode(BY_JOB | {"d1": "kind"}))
    assert asked.status == 200, asked.text
    before = audited()
    assert before > 0  # a submitted form is audited (so the check below can fail)
    page = client.get("/console/indicators/")
    assert page.status == 200 and 'id="cells"' not in page.html
    assert audited() == before
