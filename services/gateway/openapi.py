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
from services.gateway import idempotency, ratelimit
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
    "409": "Conflicts with the current state (it exists already, or its state forbids this); "
    "with an Idempotency-Key: the first request with this key has not answered yet.",
    "412": "The resource changed since its ETag was read: read it again, then retry.",
    "413": "The body is larger than the gateway accepts.",
    "415": "The body is not of the expected media type.",
    "422": "This Idempotency-Key was used before for another request: use a new key.",
    "428": "If-Match is missing: send the ETag of the resource as last read.",
    "429": "A rate limit is spent: retry after `Retry-After` seconds.",
    "431": "The request's headers are larger than the gateway accepts.",
    "503": "An upstream service did not answer; retry later.",
}

# What each problem looks like (RFC 9457); `errors` only on invalid input.
_PROBLEM_EXAMPLES: dict[str, dict[str, Any]] = {
    "400": {
        "type": "urn:crm-mesh:problem:invalid-argument",
        "title": "Invalid request",
        "status": 400,
        "detail": "name: Field required",
        "errors": [{"field": "name", "description": "Field required"}],
    },
    "401": {
        "type": "urn:crm-mesh:problem:unauthenticated",
        "title": "Authentication required",
        "status": 401,
        "detail": "missing bearer token",
    },
    "403": {
        "type": "urn:crm-mesh:problem:permission-denied",
        "title": "Forbidden",
        "status": 403,
        "detail": "this needs the `admin` role",
    },
    "404": {
        "type": "urn:crm-mesh:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no such resource",
    },
    "409": {
        "type": "urn:crm-mesh:problem:failed-precondition",
        "title": "Conflict with the current state",
        "status": 409,
        "detail": "the campaign is not a draft",
    },
    "412": {
        "type": "urn:crm-mesh:problem:stale",
        "title": "Precondition failed",
        "status": 412,
        "detail": "the contact changed since it was read",
    },
    "413": {
        "type": "urn:crm-mesh:problem:request-entity-too-large",
        "title": "Request Entity Too Large",
        "status": 413,
        "detail": "the request's body is larger than the gateway accepts",
    },
    "415": {
        "type": "urn:crm-mesh:problem:unsupported-media-type",
        "title": "Unsupported Media Type",
        "status": 415,
        "detail": "send a JSON body with Content-Type: application/json",
    },
    "422": {
        "type": "urn:crm-mesh:problem:key-reused",
        "title": "Idempotency key reused",
        "status": 422,
        "detail": "this Idempotency-Key was used for another request: send a new key for a new "
        "request",
    },
    "428": {
        "type": "urn:crm-mesh:problem:precondition-required",
        "title": "Precondition required",
        "status": 428,
        "detail": "send If-Match with the ETag of the contact as last read",
    },
    "429": {
        "type": "urn:crm-mesh:problem:rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "the caller budget is spent for this minute; retry in 42 s",
    },
    "431": {
        "type": "urn:crm-mesh:problem:request-header-fields-too-large",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": "the request's headers are larger than the gateway accepts",
    },
    "503": {
        "type": "urn:crm-mesh:problem:unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "an upstream service did not answer in time",
    },
    "default": {
        "type": "urn:crm-mesh:problem:internal",
        "title": "Internal error",
        "status": 500,
        "detail": "an unexpected error occurred",
    },
}

_TEXT = {"type": "string"}
# draft-ietf-httpapi-ratelimit-headers, on every answer of a limited operation.
_RATE_HEADERS = {
    "RateLimit-Policy": {
        "description": "Each budget: its quota `q` per window of `w` seconds, e.g. "
        '`"caller";q=1200;w=60, "writes";q=600;w=60`.',
        "schema": _TEXT,
    },
    "RateLimit": {
        "description": "What remains of each budget (`r`) and the seconds until it resets (`t`), "
        'e.g. `"caller";r=1187;t=42`.',
        "schema": _TEXT,
    },
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the spent budget resets.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
# Every answer, whatever its status (services/gateway/observability.py).
_REQUEST_ID = {
    "X-Request-Id": {
        "description": "The request's id: the caller's own `X-Request-Id` when it is short "
        "visible ASCII, else a fresh one. The services' log lines of the request carry it.",
        "schema": _TEXT,
    }
}
# A page of a list that has a next one (services/gateway/paging.py).
_NEXT_PAGE = {
    "Link": {
        "description": 'RFC 8288 link to the next page, `<...?page_token=...>; rel="next"` '
        "(relative to the request's URL); absent on the last page.",
        "schema": _TEXT,
    }
}
_REPLAYED = {
    "Idempotency-Replayed": {
        "description": "`true` when this is the kept answer to an earlier request with the same "
        "Idempotency-Key (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": "A key of the caller's choosing, unique per request meant: a retry with the "
    "same key and the same request gets the first answer (kept 24 h by default; 2xx and 4xx "
    "only), marked `Idempotency-Replayed: true`; the same key with another request is a 422, "
    "and while the first request runs, a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
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
    schemas = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        item = paths.setdefault(openapi_path(operation.rule), {})
        item[operation.method.lower()] = _operation(operation, schemas)
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
            "schemas": schemas,
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


def _operation(operation: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
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
    result["responses"] = _responses(operation, schemas)
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
    if idempotency.applies(operation):
        parameters.append(_IDEMPOTENCY_KEY)
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


def _content(reply: Reply, schemas: dict[str, Any]) -> dict[str, Any]:
    if reply.media_type == HTML:
        return {HTML: {"schema": {"type": "string"}, "example": "<!doctype html><html>…</html>"}}
    if reply.model is None:
        return {reply.media_type or JSON: {"schema": {"type": "object"}}}
    media = {"schema": _ref(reply.model), "example": example(_ref(reply.model), schemas)}
    return {reply.media_type or JSON: media}


_SAMPLE_STRINGS = {
    "date-time": "2026-09-01T08:30:00Z",
    "date": "2026-09-01",
    "uuid": "3f2b8c1e-5d4a-4f6b-9c7d-1e2f3a4b5c6d",
    "email": "marie.dupont@example.org",
    "uri": "https://crm.example.org/",
}


def example(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """An example value of `schema` (refs into `schemas`): its own example when it has one."""
    if "$ref" in schema:
        return example(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            options = [o for o in schema[union] if o.get("type") != "null"]
            return example(options[0], schemas) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _object_example(schema, schemas)
    if kind == "array":
        return [example(schema.get("items", {}), schemas)] if schema.get("minItems", 1) else []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return float(max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    return _SAMPLE_STRINGS.get(schema.get("format", ""), "text")


def _object_example(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    if properties:
        values = {name: example(sub, schemas) for name, sub in properties.items()}
        return {k: v for k, v in values.items() if v is not None or k in schema.get("required", ())}
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        names = schema.get("propertyNames", {})
        key = example(names, schemas) if names else "key"
        return {key: example(extra, schemas)}
    return {}


def _responses(operation: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for reply in operation.replies:
        entry = responses.setdefault(str(reply.status), {"description": "", "content": {}})
        entry["description"] = " ".join(filter(None, [entry["description"], reply.description]))
        if reply.status != 204:  # No Content has no body to describe
            entry["content"].update(_content(reply, schemas))
        else:
            entry.pop("content", None)
        if idempotency.applies(operation):
            entry["headers"] = dict(_REPLAYED)
    for status in _problems(operation):  # an error the operation answers its own way keeps it
        responses.setdefault(status, _problem(status, _PROBLEMS[status]))
    responses["default"] = _problem("default", "Any other problem.")
    if ratelimit.counted(operation):
        for status, entry in responses.items():
            extra = _RETRY_AFTER if status == "429" else {}
            entry["headers"] = {**entry.get("headers", {}), **_RATE_HEADERS, **extra}
    for reply in operation.replies:
        if reply.model is not None and "next_page_token" in reply.model.model_fields:
            entry = responses[str(reply.status)]
            entry["headers"] = {**entry.get("headers", {}), **_NEXT_PAGE}
    for entry in responses.values():
        entry["headers"] = {**entry.get("headers", {}), **_REQUEST_ID}
    return responses


def _problems(operation: Operation) -> list[str]:
    """The error statuses an operation may answer, by what it takes and whom it calls."""
    problems = []
    if operation.body is not None or operation.query is not None:
        problems.append("400")
    elif path_parameters(operation.rule) and operation.calls_upstream:
        problems.append("400")  # a path variable the service refuses
    elif idempotency.applies(operation):
        problems.append("400")  # a malformed Idempotency-Key
    if operation.access is not Access.PUBLIC:
        problems += ["401", "403"]
    if path_parameters(operation.rule):
        problems.append("404")
    writes = operation.method not in ratelimit.READS
    if operation.calls_upstream and writes or idempotency.applies(operation):
        problems.append("409")
    if operation.if_match:
        problems += ["412", "428"]
    if operation.body is not None or operation.upload:
        problems += ["413", "415"]
    if idempotency.applies(operation):
        problems.append("422")
    if ratelimit.counted(operation):
        problems.append("429")
    problems.append("431")
    if operation.calls_upstream or idempotency.applies(operation):
        problems.append("503")
    return problems


def _problem(status: str, description: str) -> dict[str, Any]:
    media = {"schema": _ref(Problem), "example": _PROBLEM_EXAMPLES[status]}
    return {"description": description, "content": {PROBLEM_JSON: media}}
