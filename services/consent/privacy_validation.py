"""Input checks of privacy requests: every field checked at once, values never echoed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from meshkit import page_tokens
from meshkit.errors import Violations, invalid
from services.consent.privacy_policy import Kind, Rectification, Status
from services.consent.validation import is_contact_id

MAX_ID = 64
MAX_FIELD = 200
MAX_VALUE = 5000
MAX_FIELDS = 100
DEFAULT_PAGE = 50
MAX_PAGE = 200
REQUESTS_LIST = "privacy-requests"
KINDS = ", ".join(k.value for k in Kind)


@dataclass(frozen=True)
class OpenRequest:
    """An OpenPrivacyRequest as received: any field may be missing or wrong."""

    kind: Kind | None
    contact_id: str
    owner_component: str = ""
    values: dict[str, str] = field(default_factory=dict)
    clear: list[str] = field(default_factory=list)
    has_rectification: bool = False


@dataclass(frozen=True)
class ValidOpen:
    kind: Kind
    contact_id: str
    rectification: Rectification | None


@dataclass(frozen=True)
class ListQuery:
    contact_id: str
    status: Status | None
    page_size: int
    page_token: str


def valid_open(request: OpenRequest) -> ValidOpen:
    """The validated request, or InvalidArgument naming every bad field."""
    problems = Violations()
    if request.kind is None:
        problems.add("kind", f"required, one of: {KINDS}")
    _check_contact_id(problems, request.contact_id)
    rectification = None
    if request.kind is Kind.RECTIFICATION:
        rectification = _rectification(problems, request)
    elif request.has_rectification:
        problems.add("rectification", "only a rectification request carries values")
    problems.raise_if_any()
    assert request.kind is not None
    return ValidOpen(request.kind, request.contact_id, rectification)


def valid_request_id(request_id: str) -> str:
    """A request id is a UUID this service handed out; InvalidArgument otherwise."""
    if not is_contact_id(request_id):  # the same canonical UUID form
        raise invalid("id", "must be a privacy request id (a lower-case UUID)")
    return request_id


def page_size(requested: int) -> int:
    """The page size of the requests list (0: the default)."""
    return page_tokens.page_size(requested, DEFAULT_PAGE, MAX_PAGE)


def valid_list(query: ListQuery) -> ListQuery:
    problems = Violations()
    if query.contact_id:
        _check_contact_id(problems, query.contact_id)
    if query.page_size < 0:
        problems.add("page_size", "must not be negative")
    problems.raise_if_any()
    return query


def encode_page_token(opened_at: datetime, request_id: str, *binding: str) -> str:
    """The token of the page after this request, bound to the query's filters."""
    return page_tokens.encode(REQUESTS_LIST, (opened_at, request_id), *binding)


def decode_page_token(token: str, *binding: str) -> tuple[datetime, str] | None:
    """The boundary a token names; InvalidArgument for a token this listing did not make."""
    position = page_tokens.after_time_and_id(token, REQUESTS_LIST, *binding)
    if position is not None and not is_contact_id(position[1]):  # the canonical UUID form
        raise page_tokens.refused()
    return position


def _check_contact_id(problems: Violations, contact_id: str) -> None:
    if not contact_id.strip():
        problems.add("contact_id", "required")
    elif not is_contact_id(contact_id):
        problems.add("contact_id", "must be a contact id (a lower-case UUID)")


def _rectification(problems: Violations, request: OpenRequest) -> Rectification | None:
    owner = request.owner_component
    if not owner.strip():
        problems.add("rectification.owner_component", "required")
    elif len(owner) > MAX_ID:
        problems.add("rectification.owner_component", f"at most {MAX_ID} characters")
    if not request.values and not request.clear:
        problems.add("rectification", "nothing to change: set a value or clear a field")
    if len(request.values) + len(request.clear) > MAX_FIELDS:
        problems.add("rectification", f"at most {MAX_FIELDS} fields")
    for name, value in request.values.items():
        if not name or len(name) > MAX_FIELD:
            problems.add("rectification.set", f"field names are 1 to {MAX_FIELD} characters")
        elif len(value) > MAX_VALUE:
            problems.add(f"rectification.set.{name}", f"at most {MAX_VALUE} characters")
    for index, name in enumerate(request.clear):
        if not name or len(name) > MAX_FIELD:
            problems.add(f"rectification.clear[{index}]", f"1 to {MAX_FIELD} characters")
        elif name in request.values:
            problems.add(f"rectification.clear[{index}]", "is also set")
    return Rectification(owner, dict(request.values), tuple(request.clear))
