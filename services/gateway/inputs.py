"""Reading request bodies and query strings into pydantic models, or a 400/415 problem."""

from __future__ import annotations

from dataclasses import dataclass
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from meshkit.errors import DomainError, FieldViolation, InvalidArgument
from services.consent.validation import MAX_IP, MAX_USER_AGENT

Model = TypeVar("Model", bound=BaseModel)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def read_body(model: type[Model], media_type: str, optional: bool = False) -> Model:
    """The request body as `model`; an empty body is `model()` when the body is optional."""
    if optional and not request.get_data(cache=True).strip():
        return model()
    if media_type == "application/json":
        if request.mimetype != "application/json":
            raise UnsupportedMediaType("send a JSON body with Content-Type: application/json")
        return _validate(model, lambda: model.model_validate_json(request.get_data(cache=True)))
    if request.mimetype not in _FORM_TYPES:
        raise UnsupportedMediaType(f"send a form body with Content-Type: {media_type}")
    return _validate(model, lambda: model.model_validate(_form_values(model)))


def _form_values(model: type[BaseModel]) -> dict[str, Any]:
    """The form's fields; a list-typed field takes every value sent under its name."""
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    values: dict[str, Any] = {}
    for name in request.form:
        field = fields.get(name)
        many = field is not None and _is_list(field.annotation)
        values[name] = request.form.getlist(name) if many else request.form[name]
    return values


def _is_list(annotation: Any) -> bool:
    """`list[str]`, and `list[str] | None` too."""
    if get_origin(annotation) in (list, tuple, set):
        return True
    return get_origin(annotation) in (Union, UnionType) and any(
        _is_list(a) for a in get_args(annotation)
    )


@dataclass(frozen=True)
class Requester:
    """Where a person's own act came from, kept as proof: IP address and user agent."""

    ip: str
    user_agent: str


def requester() -> Requester:
    """The requesting IP address and user agent, the latter cut to what consent keeps."""
    agent = (request.user_agent.string or "").replace("\x00", "")[:MAX_USER_AGENT]
    return Requester(ip=(request.remote_addr or "")[:MAX_IP], user_agent=agent)


class PreconditionRequired(DomainError):
    """A write that must say which version it changes (RFC 6585, 428)."""

    grpc_code = "FAILED_PRECONDITION"
    http_status = 428
    title = "Precondition required"


def read_if_match() -> str:
    """The one entity tag of If-Match; 428 when the header is absent."""
    tags = request.if_match
    if not tags.as_set() or tags.star_tag:
        raise PreconditionRequired("send If-Match with the ETag of the contact as last read")
    return next(iter(tags.as_set()))


def read_query(model: type[Model]) -> Model:
    """The query string as `model` (lax types: every query value arrives as text)."""
    return _validate(model, lambda: model.model_validate(request.args.to_dict()))


def _validate(model: type[Model], parse: Any) -> Model:
    try:
        result: Model = parse()
    except ValidationError as error:
        raise invalid_input(error) from None
    return result


def invalid_input(error: ValidationError) -> InvalidArgument:
    """An InvalidArgument naming each offending field; never the values that were sent."""
    details = error.errors(include_input=False, include_url=False, include_context=False)
    if any(d["type"] == "json_invalid" for d in details):
        return InvalidArgument(
            "the request body is not valid JSON",
            [FieldViolation("body", d["msg"]) for d in details if d["type"] == "json_invalid"],
        )
    violations = [FieldViolation(field_path(d["loc"]), d["msg"]) for d in details]
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return InvalidArgument(summary, violations)


def field_path(loc: tuple[int | str, ...]) -> str:
    """`("attributes", 0, "key")` -> `attributes[0].key`; the whole body is `body`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "body"
