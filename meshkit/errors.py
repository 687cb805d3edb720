"""Domain errors that know their gRPC status and HTTP status.

Plain Python on purpose: policy and service code raise these; one gRPC
interceptor (meshkit.grpc_server) and the gateway map them. A message must
never carry a field value the caller may not see: say which field, not what.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a caller may be told about."""

    grpc_code = "INTERNAL"
    http_status = 500
    title = "Internal error"

    def __init__(self, detail: str, violations: list[FieldViolation] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.violations = list(violations or [])


class InvalidArgument(DomainError):
    grpc_code = "INVALID_ARGUMENT"
    http_status = 400
    title = "Invalid request"


class Unauthenticated(DomainError):
    grpc_code = "UNAUTHENTICATED"
    http_status = 401
    title = "Authentication required"


class PermissionDenied(DomainError):
    grpc_code = "PERMISSION_DENIED"
    http_status = 403
    title = "Forbidden"


class NotFound(DomainError):
    grpc_code = "NOT_FOUND"
    http_status = 404
    title = "Not found"


class AlreadyExists(DomainError):
    grpc_code = "ALREADY_EXISTS"
    http_status = 409
    title = "Already exists"


class FailedPrecondition(DomainError):
    grpc_code = "FAILED_PRECONDITION"
    http_status = 409
    title = "Conflict with the current state"


class Stale(DomainError):
    """The caller wrote from a version it read earlier and someone changed it since."""

    grpc_code = "ABORTED"
    http_status = 412
    title = "Precondition failed"


class Expired(DomainError):
    """A signed link that was genuine but is past its lifetime: ask for a new one."""

    grpc_code = "FAILED_PRECONDITION"
    http_status = 410
    title = "Link expired"


class Unavailable(DomainError):
    grpc_code = "UNAVAILABLE"
    http_status = 503
    title = "Service unavailable"


def invalid(field: str, description: str) -> InvalidArgument:
    """An InvalidArgument about one field."""
    return InvalidArgument(f"{field}: {description}", [FieldViolation(field, description)])


class Violations:
    """Collects field violations, then raises them all at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if self.items:
            summary = "; ".join(f"{v.field}: {v.description}" for v in self.items)
            raise InvalidArgument(summary, self.items)
