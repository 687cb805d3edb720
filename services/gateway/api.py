"""The route registry: one declaration per operation, read by the views, auth and OpenAPI.

A view is declared with `Routes.route(...)`, naming its method, rule, who may
call it (an access level, and the role it needs: a meshkit Role, or ANY_ROLE
said explicitly; a declaration without one does not register) and the
pydantic models of its input and output. The same record
decides authentication (auth.py), parses the input before the view runs, and
generates the OpenAPI document (openapi.py), so the three cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from flask import Blueprint, Response
from pydantic import BaseModel

from meshkit.identity import Principal
from meshkit.roles import Role
from services.gateway import inputs

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HTML = "text/html"


class Access(Enum):
    """Who may call an operation; each service checks again with the forwarded token."""

    PUBLIC = "public"  # no token: health, OpenAPI, the links in sent mail
    SIGNED_IN = "signed_in"  # any verified token
    COMPONENT = "component"  # a verified token acting for a component

    def require(self, principal: Principal) -> None:
        """Raises PermissionDenied when the principal lacks what this level asks for."""
        if self is Access.COMPONENT:
            principal.require_component()


class AnyRole(Enum):
    """The explicit word for "no particular role": the access level alone decides."""

    ANY = "any"


ANY_ROLE = AnyRole.ANY
RoleNeeded = Role | AnyRole


def require_role(role: RoleNeeded, principal: Principal) -> None:
    """PermissionDenied naming the role when the principal lacks it."""
    if isinstance(role, Role):
        principal.require_role(role)


@dataclass(frozen=True)
class Reply:
    """One successful answer of an operation: its status and what its body holds."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str = JSON


@dataclass(frozen=True)
class Operation:
    """Everything the gateway knows about one route."""

    endpoint: str
    rule: str
    method: str
    summary: str
    access: Access
    role: RoleNeeded
    replies: tuple[Reply, ...]
    body: type[BaseModel] | None = None
    body_media_type: str = JSON
    body_optional: bool = False
    query: type[BaseModel] | None = None
    calls_upstream: bool = True
    if_match: bool = False  # needs If-Match (the ETag last read), passed to the view as `etag`
    upload: bool = False  # the view streams a CSV file itself (multipart `file` or text/csv)
    tags: tuple[str, ...] = field(default_factory=tuple)
    # A request its URL shows to be genuine (a validly signed one-click unsubscribe link)
    # spends no rate-limit budget: a mailbox provider's burst must not lose an unsubscribe.
    free_when: Callable[[Mapping[str, Any]], bool] | None = None


View = Callable[..., Any]


class Routes:
    """Collects the operations of one blueprint as its views are declared."""

    def __init__(self, blueprint: Blueprint, tag: str):
        self.blueprint = blueprint
        self.tag = tag
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        rule: str,
        *,
        summary: str,
        access: Access,
        role: RoleNeeded | None = None,
        replies: tuple[Reply, ...],
        body: type[BaseModel] | None = None,
        body_media_type: str = JSON,
        body_optional: bool = False,
        query: type[BaseModel] | None = None,
        calls_upstream: bool = True,
        if_match: bool = False,
        upload: bool = False,
        free_when: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Callable[[View], View]:
        """Declares a view: registers its URL rule and records its operation.

        `role` is required on every route that takes a token: a Role, or ANY_ROLE
        to say that none is needed. A public route takes no token, so no role.
        """
        if access is Access.PUBLIC:
            if role not in (None, ANY_ROLE):
                raise ValueError(f"{method} {rule}: a public route cannot need a role")
            role = ANY_ROLE
        if not isinstance(role, Role | AnyRole):
            raise TypeError(f"{method} {rule}: declare role=<a meshkit Role> or role=ANY_ROLE")
        needed: RoleNeeded = role

        def register(view: View) -> View:
            operation = Operation(
                endpoint=f"{self.blueprint.name}.{view.__name__}",
                rule=rule,
                method=method,
                summary=summary,
                access=access,
                role=needed,
                replies=replies,
                body=body,
                body_media_type=body_media_type,
                body_optional=body_optional,
                query=query,
                calls_upstream=calls_upstream,
                if_match=if_match,
                upload=upload,
                tags=(self.tag,),
                free_when=free_when,
            )
            handler = _handler(view, operation)
            # OPTIONS is not served: every method a route answers is in the OpenAPI document.
            self.blueprint.add_url_rule(
                rule, view_func=handler, methods=[method], provide_automatic_options=False
            )
            self.operations.append(operation)
            return view

        return register


def _handler(view: View, operation: Operation) -> View:
    """Parses the declared inputs, calls the view, and serialises a model it returns."""

    @functools.wraps(view)
    def handle(**path: str) -> Any:
        arguments: dict[str, Any] = dict(path)
        if operation.body is not None:
            arguments["body"] = inputs.read_body(
                operation.body, operation.body_media_type, operation.body_optional
            )
        if operation.query is not None:
            arguments["query"] = inputs.read_query(operation.query)
        if operation.if_match:
            arguments["etag"] = inputs.read_if_match()
        result = view(**arguments)
        if isinstance(result, tuple) and isinstance(result[0], BaseModel):
            return json_response(result[0], result[1])
        if isinstance(result, BaseModel):
            return json_response(result, operation.replies[0].status)
        return result

    return handle


def json_response(model: BaseModel, status: int, etag: str | None = None) -> Response:
    """A JSON answer holding only the fields the model has (absent fields stay absent)."""
    response = Response(
        model.model_dump_json(exclude_none=True, by_alias=True), status, mimetype=JSON
    )
    if etag:
        response.set_etag(etag)
    return response
