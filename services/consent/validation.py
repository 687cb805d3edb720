"""Input checks: every field checked, all violations reported at once, values never echoed."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from meshkit.errors import Violations
from services.consent.domain import Action, BatchQuery, Change, Channel, LegalBasis, Scope

MAX_ID = 64
MAX_SOURCE = 100
MAX_TEXT = 5000
MAX_BATCH = 1000
PURPOSE = re.compile(r"[a-z0-9_-]{1,64}")
CHANNELS = ", ".join(c.value for c in Channel)


@dataclass(frozen=True)
class ChangeRequest:
    """A grant or withdrawal as received: any field may be missing or wrong."""

    contact_id: str
    channel: Channel | None
    purpose: str
    scope: Scope | None
    legal_basis: LegalBasis | None
    source: str
    text_shown: str


@dataclass(frozen=True)
class BatchRequest:
    """A CheckBatch as received."""

    component_id: str
    channel: Channel | None
    purpose: str
    contact_ids: list[str]


def valid_change(request: ChangeRequest, action: Action) -> Change:
    """The validated change, or InvalidArgument naming every bad field."""
    violations = Violations()
    _check_contact_id(violations, request.contact_id)
    _check_channel(violations, request.channel)
    _check_purpose(violations, request.purpose)
    if request.scope is None:
        violations.add("scope", "required: set grouping to true, or a component_id")
    elif not request.scope.is_grouping:
        _check_id(violations, "scope.component_id", request.scope.component or "")
    _check_text(violations, "source", request.source, MAX_SOURCE, required=True)
    _check_text(
        violations, "text_shown", request.text_shown, MAX_TEXT, required=action is Action.GRANT
    )
    violations.raise_if_any()
    assert request.channel is not None and request.scope is not None  # checked above
    legal_basis = None
    if action is Action.GRANT:
        # An unspecified basis is the strictest one: the person's own consent.
        legal_basis = request.legal_basis or LegalBasis.CONSENT
    return Change(
        contact_id=request.contact_id,
        channel=request.channel,
        purpose=request.purpose,
        scope=request.scope,
        legal_basis=legal_basis,
        source=request.source,
        text_shown=request.text_shown or None,
    )


def valid_contact_id(contact_id: str) -> str:
    """The contact id, or InvalidArgument."""
    violations = Violations()
    _check_id(violations, "contact_id", contact_id)
    violations.raise_if_any()
    return contact_id


def valid_batch(request: BatchRequest) -> BatchQuery:
    """The validated batch query, or InvalidArgument naming every bad field."""
    violations = Violations()
    _check_id(violations, "component_id", request.component_id)
    _check_channel(violations, request.channel)
    _check_purpose(violations, request.purpose)
    if len(request.contact_ids) > MAX_BATCH:
        violations.add("contact_ids", f"at most {MAX_BATCH} contact ids per call")
    else:
        for index, contact_id in enumerate(request.contact_ids):
            _check_id(violations, f"contact_ids[{index}]", contact_id)
    violations.raise_if_any()
    assert request.channel is not None  # checked above
    return BatchQuery(
        component=request.component_id,
        channel=request.channel,
        purpose=request.purpose,
        contact_ids=list(request.contact_ids),
    )


def _check_id(violations: Violations, field: str, value: str) -> None:
    if not value.strip():
        violations.add(field, "required")
    elif len(value) > MAX_ID:
        violations.add(field, f"at most {MAX_ID} characters")


def _check_contact_id(violations: Violations, value: str) -> None:
    """Consent is written only for ids of the form the contacts service hands out."""
    if not value.strip():
        violations.add("contact_id", "required")
    elif not is_contact_id(value):
        violations.add("contact_id", "must be a contact id (a lower-case UUID)")


def is_contact_id(value: str) -> bool:
    """True for the canonical form of contact ids: a lower-case, hyphenated UUID."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _check_channel(violations: Violations, channel: Channel | None) -> None:
    if channel is None:
        violations.add("channel", f"required, one of: {CHANNELS}")


def _check_purpose(violations: Violations, purpose: str) -> None:
    if not PURPOSE.fullmatch(purpose):
        violations.add("purpose", "required, 1 to 64 of a-z, 0-9, '_' and '-'")


def _check_text(
    violations: Violations, field: str, value: str, limit: int, *, required: bool
) -> None:
    if required and not value.strip():
        violations.add(field, "required")
    elif len(value) > limit:
        violations.add(field, f"at most {limit} characters")
