"""Every route declares the role it needs; the gateway refuses a token without it, before upstream.

Table-driven over the real app's registry: a route added without a role
declaration, or whose role the gateway does not check, fails here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel

from meshkit.roles import Role
from services.gateway import api, schemas
from services.gateway.api import ANY_ROLE, Access, AnyRole, Operation, Reply, Routes
from services.gateway.app import AREAS
from tests.support.tokens import TestKeys
from tests.unit.gateway.harness import CallRecorder, assert_problem, bearer

OPERATIONS = [op for area in AREAS for op in area.routes.operations]
PATH_VALUES = {
    "campaign_id": "k-1",
    "contact_id": str(uuid.uuid4()),
    "request_id": str(uuid.uuid4()),
    "key": "promo",
    "token": "t",
}
COMPONENT = "sciences"

# What each kind of operation needs, as the README states it.
EXPECTED = {
    "campaigns.create_campaign": Role.CAMPAIGN_MANAGER,
    "campaigns.schedule": Role.CAMPAIGN_MANAGER,
    "campaigns.send_now": Role.CAMPAIGN_MANAGER,
    "campaigns.list_campaigns": ANY_ROLE,
    "campaigns.get_campaign": ANY_ROLE,
    "campaigns.list_deliveries": ANY_ROLE,
    "contacts.create_component": Role.ADMIN,
    "contacts.list_components": ANY_ROLE,
    "contacts.create_contact": Role.CONTACT_EDITOR,
    "contacts.patch_contact": Role.CONTACT_EDITOR,
    "contacts.leave_contact": Role.CONTACT_EDITOR,
    "contacts.delete_contact": Role.ADMIN,
    "contacts.get_contact": ANY_ROLE,
    "contacts.list_contacts": ANY_ROLE,
    "consent.grant": ANY_ROLE,
    "consent.withdraw": ANY_ROLE,
}


def example(model: type[BaseModel]) -> Any:
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict), model.__name__
    return extra["examples"][0]


def call(client: FlaskClient, operation: Operation, token: str) -> Any:
    path = operation.rule
    for name, value in PATH_VALUES.items():
        path = path.replace(f"<{name}>", value)
    headers = bearer(token) | ({"If-Match": '"etag"'} if operation.if_match else {})
    if operation.upload:
        csv = b"email\r\nx@example.org\r\n"
        headers["Content-Type"] = "text/csv"
        return client.open(path + "?kind=person", method="POST", data=csv, headers=headers)
    body = example(operation.body) if operation.body is not None else None
    return client.open(path, method=operation.method, json=body, headers=headers)


def all_but(keys: TestKeys, role: Role) -> str:
    """A token acting for a component, with every role but `role` (and an unknown one).

    Never `service`: a user token carrying it is refused outright (401), whatever the route.
    """
    roles = [r.value for r in Role if r not in (role, Role.SERVICE)] + ["staff"]
    return keys.issuer.mint(f"someone@{COMPONENT}", component=COMPONENT, roles=roles)


def with_only(keys: TestKeys, role: Role | AnyRole) -> str:
    roles = [role.value] if isinstance(role, Role) else []
    return keys.issuer.mint(f"someone@{COMPONENT}", component=COMPONENT, roles=roles)


def test_every_registered_route_declares_its_role() -> None:
    assert OPERATIONS
    for operation in OPERATIONS:
        assert isinstance(operation.role, Role | AnyRole), operation.endpoint
        if operation.access is Access.PUBLIC:
            assert operation.role is ANY_ROLE, operation.endpoint
    declared = {op.endpoint: op.role for op in OPERATIONS if op.endpoint in EXPECTED}
    assert declared == EXPECTED


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.endpoint)
def test_a_token_with_everything_but_the_role_is_refused_before_upstream(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder, operation: Operation
) -> None:
    if not isinstance(operation.role, Role):
        pytest.skip("no particular role: the access level decides")
    problem = assert_problem(call(client, operation, all_but(keys, operation.role)), 403)
    assert operation.role.value in problem["detail"]
    assert "someone" not in problem["detail"]
    assert recorder.methods == []  # nothing was asked of, nor written by, any service


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.endpoint)
def test_the_declared_role_is_enough_to_reach_the_service(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder, operation: Operation
) -> None:
    """The other side of the table: with its role (and nothing else), the call goes upstream."""
    if operation.access is Access.PUBLIC or not operation.calls_upstream:
        pytest.skip("public")
    response = call(client, operation, with_only(keys, operation.role))
    # Nothing listens upstream in this tier: reaching it is a 503.
    assert_problem(response, 503)
    assert len(recorder.methods) == 1


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.endpoint)
def test_the_document_states_the_role_and_the_403(
    client: FlaskClient, operation: Operation
) -> None:
    document = client.get("/openapi.json").get_json()
    path = api_path(operation.rule)
    documented = document["paths"][path][operation.method.lower()]
    if isinstance(operation.role, Role):
        assert documented["x-required-role"] == operation.role.value
        assert f"`{operation.role.value}`" in documented["description"]
        assert "403" in documented["responses"]
    else:
        assert "x-required-role" not in documented
    if operation.access is not Access.PUBLIC:
        assert "403" in documented["responses"]


def api_path(rule: str) -> str:
    from services.gateway.openapi import openapi_path

    return openapi_path(rule)


def test_a_route_without_a_role_does_not_register(app: Flask) -> None:
    from flask import Blueprint

    routes = Routes(Blueprint("scratch", __name__), "scratch")
    reply = (Reply(200, "ok", schemas.SendNow),)

    def declare(**kwargs: Any) -> Any:
        return routes.route("GET", "/scratch", summary="s", replies=reply, **kwargs)

    with pytest.raises(TypeError):
        declare(access=Access.COMPONENT)
    with pytest.raises(TypeError):
        declare(access=Access.COMPONENT, role=None)
    with pytest.raises(TypeError):
        declare(access=Access.COMPONENT, role="admin")
    with pytest.raises(ValueError):
        declare(access=Access.PUBLIC, role=Role.ADMIN)
    assert routes.operations == []
    assert api.Operation  # the registry type the app reads
