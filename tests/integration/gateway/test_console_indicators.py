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

TAX = "tax"  # A's attribute; both components write values (a grouping write grant)
SECRET_FIELD = "secret_amount"  # A's attribute nobody else may aggregate
PERSONS = {A: [1100, 1200, 1300, 1400, 1500, 1600], B: [2100, 2200, 2300, 2400, 2500, 2600]}
COMPANIES = {A: [77731, 88847]}  # two companies, one component: their sum is never published
HIDDEN = ("77731", "88847", str(77731 + 88847))


def grpc_aggregate(gateway: Gateway, token: str, request: pb.AggregateRequest) -> Any:
    with grpc.insecure_channel(gateway.targets["contacts"]) as channel:
        stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        return stub.Aggregate(request, metadata=[("authorization", f"Bearer {token}")], timeout=20)


def published_rows(html: str) -> list[tuple[str, ...]]:
    """(coordinates..., value) of each published row of the page's table."""
    rows = []
    for row in re.findall(
        r'<tr class="cell[^"]*" data-published="true"[^>]*>(.*?)</tr>', html, re.S
    ):
        rows.append(
            tuple(
                re.sub(r"<[^>]+>", "", td).strip()
                for td in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            )
        )
    return rows


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
    }
    for field, grants in policies.items():
        admin.get(f"/console/admin/field-policies/edit?field={field}")
        saved = admin.post("/console/admin/field-policies/edit", {"field": field, **grants})
        assert saved.status == 303, saved.html
    admin.get("/console/admin/indicators/dimensions")
    dimension = {"id": "kind", "label_fr": "Type", "label_en": "Kind", "source": "kind",
                 "field": ""}  # fmt: skip
    created = admin.post("/console/admin/indicators/dimensions", dimension)
    assert created.status == 303, created.html
    for component, values in PERSONS.items():
        for value in values:
            _contact(gateway, component, "person", {fields[TAX]: str(value),
                                                    fields[SECRET_FIELD]: str(value)})  # fmt: skip
    for component, values in COMPANIES.items():
        for value in values:
            _contact(gateway, component, "company", {fields[TAX]: str(value),
                                                     "organisation": "ACME"})  # fmt: skip
    return fields


def _contact(gateway: Gateway, component: str, kind: str, fields: dict[str, str]) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    body = {"kind": kind, "fields": {"email": email, **fields}}
    created = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(component), body)
    assert created.status == 201, created.text


def _communication(gateway: Gateway) -> ConsoleClient:
    client = gateway.console()
    client.sign_in(person(None, "communication", email="com@univ.example"))
    return client


def test_the_page_publishes_what_contacts_publishes_and_nothing_hidden(
    gateway: Gateway, seeded: dict[str, str]
) -> None:
    query = {"statistic": "sum", "measure": seeded[TAX], "scope": "grouping", "d1": "kind"}
    client = _communication(gateway)
    page = client.get("/console/indicators/?" + urlencode(query))
    assert page.status == 200, page.text
    token = gateway.keys.issuer.mint("com-grpc@grouping", roles=["communication"])
    asked = pb.AggregateRequest(measure=seeded[TAX], statistic=pb.STATISTIC_SUM,
                                dimensions=["kind"], scope=pb.AGGREGATE_SCOPE_GROUPING)  # fmt: skip
    answer = grpc_aggregate(gateway, token, asked)
    expected = [
        (*[("Total" if c.total else c.value) for c in cell.coordinates], cell.value)
        for cell in answer.cells
        if cell.published
    ]
    assert expected, "contacts published nothing: the data set is too small for the test"
    assert any(not c.published for c in answer.cells)
    words = {"person": "person", "company": "company"}
    shown = [tuple(words.get(v, v) for v in row) for row in published_rows(page.html)]
    assert shown == expected
    for hidden in HIDDEN:
        assert hidden not in page.html
    assert "masqué" in page.text
    assert f'data-k="{answer.rules.k}" data-p="{answer.rules.p}"' in page.html

    link = re.search(r'id="csv" href="([^"]+)"', page.html)
    assert link is not None
    download = client.get(link.group(1).replace("&amp;", "&"))
    assert download.status == 200, download.text
    text = download.body.decode("utf-8-sig")
    for hidden in HIDDEN:
        assert hidden not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["kind"] or "Total", r["value"]) for r in rows if r["published"] == "true"] == [
        (row[0], row[-1]) for row in expected
    ]


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
    for value in PERSONS[A]:
        assert str(value) not in page.html


def test_a_bare_visit_records_no_query(gateway: Gateway, seeded: dict[str, str]) -> None:
    def audited() -> int:
        with gateway.engine.connect() as connection:
            return int(
                connection.exec_driver_sql("SELECT count(*) FROM aggregate_audit").scalar_one()
            )

    client = _communication(gateway)
    before = audited()
    page = client.get("/console/indicators/")
    assert page.status == 200 and 'id="cells"' not in page.html
    assert audited() == before
