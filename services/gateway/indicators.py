"""Indicators: aggregates under statistical disclosure control, REST in front of contacts.

`GET /v1/indicators` asks contacts' Aggregate and answers JSON, or CSV (`Accept: text/csv` or
`format=csv`): one row per cell, the dimension ids, then `statistic` (the figure, empty when
suppressed), `published` and `reason`. A margin's coordinate is written `(all)` in CSV (JSON
says `total: true`). A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
is prefixed with `'` so that no spreadsheet runs it as a formula. The dimensions and the
publication rules are an admin's; anyone signed in reads them.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request
from pydantic import ValidationError

from meshkit.csv_export import to_csv
from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway import inputs, paging, schemas
from services.gateway.api import ANY_ROLE, JSON, Access, Reply, Routes, json_response
from services.gateway.clients import upstream
from services.gateway.indicators_schemas import (
    Coordinate,
    Dimension,
    DimensionBody,
    DimensionList,
    DisclosureRules,
    DisclosureRulesBody,
    IndicatorCell,
    Indicators,
    IndicatorsQuery,
)

blueprint = Blueprint("indicators", __name__)
routes = Routes(blueprint, "indicators")

CSV = "text/csv"
ALL = "(all)"  # a margin's coordinate in CSV
_STATISTICS = {
    "count": pb.STATISTIC_COUNT,
    "sum": pb.STATISTIC_SUM,
    "mean": pb.STATISTIC_MEAN,
    "median": pb.STATISTIC_MEDIAN,
    "percentile": pb.STATISTIC_PERCENTILE,
}
_SCOPES = {"grouping": pb.AGGREGATE_SCOPE_GROUPING, "reach": pb.AGGREGATE_SCOPE_REACH}
_SOURCES = {
    "field": pb.DIMENSION_SOURCE_FIELD,
    "year": pb.DIMENSION_SOURCE_YEAR,
    "kind": pb.DIMENSION_SOURCE_KIND,
    "component": pb.DIMENSION_SOURCE_COMPONENT,
}
_SOURCE_WORDS = {number: word for word, number in _SOURCES.items()}
_REASONS = {
    pb.SUPPRESSION_REASON_TOO_FEW_CONTACTS: "too_few_contacts",
    pb.SUPPRESSION_REASON_TOO_FEW_COMPONENTS: "too_few_components",
    pb.SUPPRESSION_REASON_DOMINATED: "dominated",
    pb.SUPPRESSION_REASON_COMPLEMENTARY: "complementary",
}


@routes.route(
    "GET",
    "/v1/indicators",
    summary="One aggregate of a number field (or a count of contacts), grouped by dimensions, "
    "published under the disclosure rules and audited against your earlier queries.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=IndicatorsQuery,
    replies=(
        Reply(
            200,
            "The protected table; as RFC 4180 UTF-8 CSV with `Accept: text/csv` or `format=csv`"
            " (columns: the dimension ids, `statistic`, `published`, `reason`).",
            Indicators,
        ),
    ),
)
def get_indicators(query: IndicatorsQuery) -> Response:
    """GET /v1/indicators?measure=&statistic=&percentile=&dimension=...&scope=."""
    query = _full_query()
    reply = upstream().contacts.Aggregate(
        pb.AggregateRequest(
            measure=query.measure,
            statistic=_STATISTICS[query.statistic],
            percentile=query.percentile or 0.0,
            dimensions=query.dimension,
            scope=_SCOPES[query.scope],
        )
    )
    table = indicators_of(reply, query.dimension)
    if query.format == "csv" or (query.format is None and _wants_csv()):
        return csv_response(table, query)
    return json_response(table, 200)


def _full_query() -> IndicatorsQuery:
    """The query with every `dimension` given (the generic reader keeps the first only)."""
    arguments: dict[str, Any] = request.args.to_dict()
    arguments["dimension"] = request.args.getlist("dimension")
    try:
        return IndicatorsQuery.model_validate(arguments)
    except ValidationError as error:
        raise inputs.invalid_input(error) from None


def _wants_csv() -> bool:
    best = request.accept_mimetypes.best_match([JSON, CSV])
    return best == CSV


def indicators_of(reply: pb.AggregateResponse, dimensions: list[str]) -> Indicators:
    return Indicators(
        cells=[
            IndicatorCell(
                coordinates=[
                    Coordinate(dimension=name, value=c.value, total=c.total)
                    for name, c in zip(dimensions, cell.coordinates, strict=False)
                ],
                published=cell.published,
                value=cell.value if cell.published else None,
                reason=_REASONS.get(cell.reason),  # type: ignore[arg-type]
            )
            for cell in reply.cells
        ],
        rules=DisclosureRules(
            k=reply.rules.k, p=reply.rules.p, min_components=reply.rules.min_components
        ),
        query=reply.query,
        as_of=reply.as_of or None,
    )


def csv_text(table: Indicators, dimensions: list[str]) -> str:
    return to_csv(
        [*dimensions, "statistic", "published", "reason", "as_of"],
        (
            [
                *(ALL if c.total else c.value for c in cell.coordinates),
                cell.value or "",
                "true" if cell.published else "false",
                cell.reason or "",
                table.as_of or "",
            ]
            for cell in table.cells
        ),
    )


def csv_response(table: Indicators, query: IndicatorsQuery) -> Response:
    name = re.sub(r"[^a-z0-9_-]+", "-", f"{query.statistic}-{query.measure or 'contacts'}".lower())
    response = Response(csv_text(table, query.dimension), 200, mimetype=CSV)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="indicators-{name}.csv"'
    return response


# --- Dimensions and rules -------------------------------------------------------------------


@routes.route(
    "GET",
    "/v1/indicators/dimensions",
    summary="The dimensions indicators may be grouped by.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page of the dimensions, by id.", DimensionList),),
)
def list_dimensions(query: schemas.Page) -> Response:
    """GET /v1/indicators/dimensions."""
    reply = upstream().contacts.ListDimensions(
        pb.ListDimensionsRequest(page_size=query.page_size, page_token=query.page_token)
    )
    listed = DimensionList(
        dimensions=[_dimension(d) for d in reply.dimensions], next_page_token=reply.next_page_token
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "PUT",
    "/v1/indicators/dimensions/<dimension_id>",
    summary="Create or replace a dimension (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=DimensionBody,
    replies=(Reply(200, "The dimension now in force.", Dimension),),
)
def put_dimension(dimension_id: str, body: DimensionBody) -> Dimension:
    """PUT /v1/indicators/dimensions/<id>."""
    reply = upstream().contacts.PutDimension(
        pb.Dimension(
            id=dimension_id,
            label_fr=body.label_fr,
            label_en=body.label_en,
            source=_SOURCES[body.source],
            field=body.field or "",
        )
    )
    return _dimension(reply)


@routes.route(
    "DELETE",
    "/v1/indicators/dimensions/<dimension_id>",
    summary="Delete a dimension (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    replies=(Reply(204, "Deleted."),),
)
def delete_dimension(dimension_id: str) -> Response:
    """DELETE /v1/indicators/dimensions/<id>."""
    upstream().contacts.DeleteDimension(pb.DeleteDimensionRequest(id=dimension_id))
    return Response(status=204)


@routes.route(
    "GET",
    "/v1/indicators/disclosure-rules",
    summary="The publication rules in force (k contacts, p% dominance, components).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    replies=(Reply(200, "The rules.", DisclosureRules),),
)
def get_disclosure_rules() -> DisclosureRules:
    """GET /v1/indicators/disclosure-rules."""
    return _rules(upstream().contacts.GetDisclosureRules(pb.GetDisclosureRulesRequest()))


@routes.route(
    "PUT",
    "/v1/indicators/disclosure-rules",
    summary="Replace the publication rules (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=DisclosureRulesBody,
    replies=(Reply(200, "The rules now in force.", DisclosureRules),),
)
def set_disclosure_rules(body: DisclosureRulesBody) -> DisclosureRules:
    """PUT /v1/indicators/disclosure-rules."""
    reply = upstream().contacts.SetDisclosureRules(
        pb.DisclosureRules(k=body.k, p=body.p, min_components=body.min_components)
    )
    return _rules(reply)


def _dimension(message: pb.Dimension) -> Dimension:
    return Dimension(
        id=message.id,
        label_fr=message.label_fr,
        label_en=message.label_en,
        source=_SOURCE_WORDS.get(message.source, "kind"),  # type: ignore[arg-type]
        field=message.field or None,
    )


def _rules(message: pb.DisclosureRules) -> DisclosureRules:
    return DisclosureRules(
        k=message.k,
        p=message.p,
        min_components=message.min_components,
        updated_by=message.updated_by or None,
        updated_at=message.updated_at or None,
    )
