"""Aggregate over gRPC: a real `crm serve contacts` process on a migrated PostgreSQL database,
its published cells equal to the plain-Python recomputation; refusals as gRPC statuses."""

from __future__ import annotations

import grpc
import pytest

from meshkit.db import Database
from meshkit.disclosure import Rules, Statistic
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.aggregates import AggregateQuery, Scope, format_value
from services.contacts.policy import Viewer
from tests.integration.contacts.aggregate_world import load, oracle, random_world
from tests.integration.contacts.harness import ContactsServer, error_text, field_violations


def _token(server: ContactsServer, component: str) -> str:
    return server.keys.issuer.mint(f"analyst@{component}", component=component, roles=["viewer"])


def _listed(reply: pb.AggregateResponse) -> list[tuple[tuple[str | None, ...], str, int]]:
    return [
        (
            tuple(None if c.total else c.value for c in cell.coordinates),
            cell.value if cell.published else "",
            cell.reason,
        )
        for cell in reply.cells
    ]


REASONS = {
    None: pb.SUPPRESSION_REASON_UNSPECIFIED,
    "too_few_contacts": pb.SUPPRESSION_REASON_TOO_FEW_CONTACTS,
    "too_few_components": pb.SUPPRESSION_REASON_TOO_FEW_COMPONENTS,
    "dominated": pb.SUPPRESSION_REASON_DOMINATED,
    "complementary": pb.SUPPRESSION_REASON_COMPLEMENTARY,
}


def test_the_served_table_is_the_recomputed_one(server: ContactsServer) -> None:
    world = random_world(31, contacts=150)
    load(Database(server.engine), world)
    request = pb.AggregateRequest(
        measure="*.taxe",
        statistic=pb.STATISTIC_MEAN,
        dimensions=["sector", "kind"],
        scope=pb.AGGREGATE_SCOPE_REACH,
    )
    reply = server.call("Aggregate", request, _token(server, "droit"))
    query = AggregateQuery("*.taxe", Statistic.MEAN, 0, ("sector", "kind"), Scope.REACH)
    table = oracle(world, Viewer("analyst@droit", "droit"), query, Rules())
    expected = [
        (
            cell.key,
            format_value(cell.value, Statistic.MEAN) if cell.value is not None else "",
            REASONS[cell.reason.value if cell.reason else None],
        )
        for cell in table.cells
    ]
    assert _listed(reply) == expected
    assert (reply.rules.k, reply.rules.p, reply.rules.min_components) == (5, 80, 2)
    assert reply.query == "mean of *.taxe by sector, kind over the reach"


def test_refusals_are_statuses_with_the_field(server: ContactsServer) -> None:
    load(Database(server.engine), random_world(32))
    token = _token(server, "sciences")
    denied = server.fails(
        "Aggregate",
        pb.AggregateRequest(
            measure="droit.secret", statistic=pb.STATISTIC_SUM, scope=pb.AGGREGATE_SCOPE_GROUPING
        ),
        token,
    )
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "droit.secret" in error_text(denied) and "987654321" not in error_text(denied)
    invalid = server.fails(
        "Aggregate",
        pb.AggregateRequest(measure="sciences.sector", dimensions=["nope"]),
        token,
    )
    assert invalid.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(invalid)) == {"statistic", "measure", "dimensions[0]", "scope"}


@pytest.mark.parametrize("method", ["PutDimension", "SetDisclosureRules"])
def test_only_admins_change_the_settings(server: ContactsServer, method: str) -> None:
    request = (
        pb.Dimension(id="genre", label_fr="G", label_en="K", source=pb.DIMENSION_SOURCE_KIND)
        if method == "PutDimension"
        else pb.DisclosureRules(k=5, p=80, min_components=2)
    )
    denied = server.fails(method, request, _token(server, "droit"))
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    assert server.call(method, request, server.keys.admin())
