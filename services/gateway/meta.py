"""Health and the OpenAPI document (no login)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, json

from services.gateway import responses
from services.gateway.api import Access, Reply, Routes

EXTENSION = "crm.gateway.openapi"

blueprint = Blueprint("meta", __name__)
routes = Routes(blueprint, "meta")


def install(app: Flask, document: dict[str, object]) -> None:
    """Serves `document` at /openapi.json (built once, at start-up)."""
    app.extensions[EXTENSION] = json.dumps(document, sort_keys=False)


@routes.route(
    "GET",
    "/healthz",
    summary="Liveness of the gateway itself (upstream services have their own health).",
    access=Access.PUBLIC,
    calls_upstream=False,
    replies=(Reply(200, "The gateway is serving.", responses.Health),),
)
def healthz() -> responses.Health:
    """GET /healthz."""
    return responses.Health(status="ok")


@routes.route(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document.",
    access=Access.PUBLIC,
    calls_upstream=False,
    replies=(Reply(200, "The OpenAPI document."),),
)
def openapi() -> Response:
    """GET /openapi.json."""
    return Response(current_app.extensions[EXTENSION], 200, mimetype="application/json")
