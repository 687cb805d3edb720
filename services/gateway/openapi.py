"""The OpenAPI 3.1 document, generated from the route registry and its pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from meshkit.fields import ATTRIBUTE_KEY, COMPONENT_ID
from meshkit.roles import Role
from services.campaigns import validation as campaign_rules
from services.contacts.imports import IMPORT_ID
from services.contacts.organisation import MAX_SUBJECT
from services.gateway.api import HTML, JSON, Access, Operation, Reply
from services.gateway.problems import PROBLEM_JSON
from services.gateway.responses import Problem
from services.gateway.schemas import FIELD_ID_PATTERN

REF = "#/components/schemas/{model}"
BEARER = "bearerAuth"

_PROBLEMS = {
    "400": "Invalid input: `errors` names each offending field.",
    "401": "Missing, expired or invalid bearer token.",
    "403": "The token may not do this: no component, or without the role the operation needs "
    "(`x-required-role`), or refused by the service.",
    "404": "Unknown, or not visible to the caller.",
    "412": "The resource changed since its ETag was read: read it again, then retry.",
    "413": "The upload is larger than the gateway accepts.",
    "415": "The body is not of the expected media type.",
    "428": "If-Match is missing: send the ETag of the resource as last read.",
    "503": "An upstream service did not answer; retry later.",
}


# What the services accept in each path variable (an id they never handed out is a 404 later).
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "campaign_id": {
        "type": "string",
        "minLength": 1,
        "maxLength": campaign_rules.MAX_CAMPAIGN_ID,
        "pattern": "^[^\\x00]*$",
    },
    "contact_id": {
        "type": "string",
        "format": "uuid",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    },
    "component_id": {"type": "string", "pattern": f"^{COMPONENT_ID.pattern}$"},
    "key": {"type": "string", "pattern": f"^{ATTRIBUTE_KEY.pattern}$"},
    "field": {"type": "string", "pattern": FIELD_ID_PATTERN},
    "import_id": {"type": "string", "pattern": f"^{IMPORT_ID.pattern}$"},
    "subject": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_SUBJECT,
        "pattern": "^[^\\x00-\\x1f\\x7f]*$",
    },
}


def _path_schema(name: str) -> dict[str, Any]:
    return PATH_SCHEMAS.get(name, {"type": "string"})


def _field_schema(annotation: Any) -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    return schema


def openapi_path(rule: str) -> str:
    """Flask's `/v1/contacts/<contact_id>` -> OpenAPI's `/v1/contacts/{contact_id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def path_parameters(rule: str) -> list[str]:
    """Names of the variables of a Flask rule, in order."""
    return re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule)


def document(operations: Iterable[Operation], title: str = "crm-mesh gateway") -> dict[str, Any]:
    """The whole document: one path item per rule, one schema per model."""
    operations = list(operations)
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        item = paths.setdefault(openapi_path(operation.rule), {})
        item[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1",
            "description": "REST/JSON front of the contacts, consent and campaigns services. "
            "Errors are RFC 9457 problem+json; times are RFC 3339 in UTC.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(operations),
            "securitySchemes": {
                BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _schemas(operations: list[Operation]) -> dict[str, Any]:
    inputs = {op.body for op in operations if op.body is not None}
    outputs = {r.model for op in operations for r in op.replies if r.model is not None}
    outputs.add(Problem)
    pairs: list[tuple[type[BaseModel], Any]] = [
        *((m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)),
        *((m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)),
    ]
    _, definitions = models_json_schema(pairs, ref_template=REF)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return schemas


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(operation: Operation) -> dict[str, Any]:
    result: dict[str, Any] = {
        "operationId": operation.endpoint.replace(".", "_"),
        "summary": operation.summary,
        "description": _who(operation),
        "tags": list(operation.tags),
        "x-access": operation.access.value,
        "security": [] if operation.access is Access.PUBLIC else [{BEARER: []}],
    }
    if isinstance(operation.role, Role):
        result["x-required-role"] = operation.role.value
    parameters = _parameters(operation)
    if parameters:
        result["parameters"] = parameters
    if operation.body is not None:
        result["requestBody"] = {
            "required": not operation.body_optional,
            "content": {operation.body_media_type: {"schema": _ref(operation.body)}},
        }
    if operation.upload:
        result["requestBody"] = _UPLOAD
    result["responses"] = _responses(operation)
    return result


# A CSV file, UTF-8, whose header names fields by catalogue id; `;` or `,` between cells.
_CSV = {"type": "string", "description": "UTF-8 CSV; its header names fields by catalogue id."}
_UPLOAD = {
    "required": True,
    "content": {
        "text/csv": {"schema": _CSV},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "kind": {"type": "string", "enum": ["person", "company"]},
                    "import_id": {"type": "string"},
                    "dry_run": {"type": "boolean"},
                },
            }
        },
    },
}

_ACCESS = {
    Access.PUBLIC: "No token needed.",
    Access.SIGNED_IN: "Needs a bearer token",
    Access.COMPONENT: "Needs a bearer token acting for a component",
}


def _who(operation: Operation) -> str:
    """Who may call the operation, in words: its access level and the role it needs."""
    if operation.access is Access.PUBLIC:
        return _ACCESS[Access.PUBLIC]
    if isinstance(operation.role, Role):
        return f"{_ACCESS[operation.access]} with the `{operation.role.value}` role."
    return f"{_ACCESS[operation.access]}; no particular role."


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name)}
        for name in path_parameters(operation.rule)
    ]
    if operation.if_match:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "The ETag of the resource as last read (optimistic concurrency).",
                "schema": {"type": "string"},
            }
        )
    if operation.query is not None:
        properties = operation.query.model_json_schema()["properties"]
        for name, field in operation.query.model_fields.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "description": field.description or "",
                    "schema": properties[name],
                }
            )
    return parameters


def _content(reply: Reply) -> dict[str, Any]:
    if reply.media_type == HTML:
        return {HTML: {"schema": {"type": "string"}}}
    schema = _ref(reply.model) if reply.model is not None else {"type": "object"}
    return {reply.media_type or JSON: {"schema": schema}}


def _responses(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for reply in operation.replies:
        entry = responses.setdefault(str(reply.status), {"description": "", "content": {}})
        entry["description"] = " ".join(filter(None, [entry["description"], reply.description]))
        if reply.status != 204:  # No Content has no body to describe
            entry["content"].update(_content(reply))
        else:
            entry.pop("content", None)
    problems = []
    if operation.body is not None or operation.query is not None:
        problems.append("400")
    elif path_parameters(operation.rule) and operation.calls_upstream:
        problems.append("400")  # a path variable the service refuses
    if operation.access is not Access.PUBLIC:
        problems += ["401", "403"]
    if path_parameters(operation.rule):
        problems.append("404")
    if operation.if_match:
        problems += ["412", "428"]
    if operation.body is not None or operation.upload:
        problems += ["413", "415"] if operation.upload else ["415"]
    if operation.calls_upstream:
        problems.append("503")
    problem = {PROBLEM_JSON: {"schema": _ref(Problem)}}
    for status in problems:  # an error the operation answers its own way keeps its entry
        responses.setdefault(status, {"description": _PROBLEMS[status], "content": problem})
    responses["default"] = {"description": "Any other problem.", "content": problem}
    return responses
