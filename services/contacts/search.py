"""Search filters of the contacts service, in plain Python: what a condition is and when it holds.

A condition holds for a contact when one value of its field that the caller may
read matches. The SQL of the search (repository.search_ids) decides first, with
the read policy translated by `policy.read_scope`; `holds` decides again on the
loaded contacts, with `policy.may_read`, before anything is answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from meshkit.fields import FieldType
from services.contacts.policy import Contact, Kind, Rules, Viewer, may_read

# Types whose values may be compared with a range: numbers by value, dates as ISO text.
RANGED = frozenset({FieldType.NUMBER, FieldType.DATE})


@dataclass(frozen=True)
class Condition:
    """A checked filter: the field, its type, and either `equals` or a range (bounds inclusive).

    Every text is in the stored form (validation.clean_value); `number_*` are set
    for number fields, which compare by value.
    """

    field: str
    type: FieldType
    equals: str | None = None
    low: str | None = None
    high: str | None = None

    @property
    def is_range(self) -> bool:
        return self.equals is None

    def number(self, text: str | None) -> Decimal | None:
        return _decimal(text) if text is not None else None


@dataclass(frozen=True)
class Query:
    """A search once checked: kind, changed since, conditions (all must hold)."""

    kind: Kind | None = None
    updated_since: datetime | None = None
    conditions: tuple[Condition, ...] = ()

    def digest(self) -> str:
        """A short hash of the query, bound into page tokens so a page resumes only its query."""
        content = json.dumps(
            [
                self.kind.value if self.kind else "",
                self.updated_since.isoformat() if self.updated_since else "",
                [[c.field, c.equals, c.low, c.high] for c in self.conditions],
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(content.encode()).hexdigest()[:16]


def matches(condition: Condition, value: str) -> bool:
    """True when one stored value satisfies the condition."""
    if condition.type is FieldType.NUMBER:
        number = _decimal(value)
        if number is None:
            return False
        if not condition.is_range:
            return number == condition.number(condition.equals)
        low, high = condition.number(condition.low), condition.number(condition.high)
        return (low is None or number >= low) and (high is None or number <= high)
    if not condition.is_range:
        return value == condition.equals
    return (condition.low is None or value >= condition.low) and (
        condition.high is None or value <= condition.high
    )


def holds(contact: Contact, viewer: Viewer, rules: Rules, conditions: Sequence[Condition]) -> bool:
    """True when each condition matches one value of the contact the viewer may read."""
    return all(
        any(
            value.field == condition.field
            and may_read(rules, viewer, value.field, value.owner, contact.members)
            and matches(condition, value.value)
            for value in contact.values
        )
        for condition in conditions
    )


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
