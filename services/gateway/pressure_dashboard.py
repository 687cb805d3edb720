"""The marketing-pressure dashboard: REST in front of PressurePolicyService.GetPressureDashboard.

`GET /v1/pressure/dashboard?month=YYYY-MM&component=...` answers JSON, or a CSV file
(RFC 4180, UTF-8, CRLF, `Content-Disposition: attachment`) with `Accept: text/csv` or
`format=csv`. Who may read which view is campaigns' decision (the grouping's: the
communication role, admins and the grouping's DPO; a component's: also its staff); a
refusal comes back as problem+json. Every figure is already published or suppressed by
campaigns: the gateway only reshapes it. A cell a spreadsheet would run as a formula
(starting with = + - @, a tab or a carriage return) is prefixed with `'`.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from meshkit.csv_export import FIGURE_COLUMNS, figure_rows, to_csv
from protos.crm.campaigns.v1 import pressure_pb2
from services.gateway.api import ANY_ROLE, Access, Reply, Routes, json_response
from services.gateway.clients import upstream
from services.gateway.pressure_schemas import (
    PressureDashboard,
    PressureDashboardQuery,
    PressureFigure,
)

blueprint = Blueprint("pressure_dashboard", __name__)
routes = Routes(blueprint, "pressure dashboard")

CSV = "text/csv"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


@routes.route(
    "GET",
    "/v1/pressure/dashboard",
    summary="The marketing pressure of one month, for the grouping or one component, every "
    "figure under the disclosure rules (JSON, or CSV with Accept: text/csv or format=csv).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,  # campaigns decides: communication, admin, grouping dpo; component staff
    query=PressureDashboardQuery,
    replies=(
        Reply(200, "The published and suppressed figures.", PressureDashboard),
        Reply(200, "The same figures as a CSV file (one row per figure).", media_type=CSV),
    ),
)
def get_pressure_dashboard(query: PressureDashboardQuery) -> Response:
    """GET /v1/pressure/dashboard."""
    reply = upstream().pressure.GetPressureDashboard(
        pressure_pb2.GetPressureDashboardRequest(
            month=query.month or "", component=query.component or ""
        )
    )
    dashboard = dashboard_of(reply)
    if _wants_csv(query):
        return csv_response(dashboard)
    return json_response(dashboard, 200)


def _wants_csv(query: PressureDashboardQuery) -> bool:
    if query.format is not None:
        return query.format == "csv"
    return request.accept_mimetypes.best_match(["application/json", CSV]) == CSV


def dashboard_of(message: pressure_pb2.PressureDashboard) -> PressureDashboard:
    return PressureDashboard(
        month=message.month,
        component=message.component,
        k=message.k,
        p=message.p,
        computed_at=message.computed_at or None,
        figures=[
            PressureFigure(
                series=f.series,  # type: ignore[arg-type]
                component=f.component,
                purpose=f.purpose,
                bucket=f.bucket,
                published=f.published,
                value=f.value if f.published else None,
                reason=(f.reason or None) if not f.published else None,  # type: ignore[arg-type]
            )
            for f in message.figures
        ],
    )


def dashboard_csv(dashboard: PressureDashboard) -> str:
    """RFC 4180 (meshkit.csv_export): a header row, then one row per figure."""
    return to_csv(FIGURE_COLUMNS, figure_rows(dashboard.figures))


def csv_response(dashboard: PressureDashboard) -> Response:
    view = _UNSAFE_NAME.sub("_", dashboard.component) if dashboard.component else "grouping"
    name = f"pressure-{dashboard.month}-{view}.csv"
    response = Response(dashboard_csv(dashboard).encode("utf-8"), 200)
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
