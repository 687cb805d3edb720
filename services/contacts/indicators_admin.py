"""Use cases of the indicators' settings: the dimensions and the publication rules (admin).

A dimension names how aggregates may be grouped: the value of a text, enum or boolean field
(FIELD), the year of a date field (YEAR), the contact's kind (KIND) or the component that
holds the measured value (COMPONENT). The publication rules are one row: k contacts per
published cell (2..20), p% dominance (1..100) and at least two contributing components.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import NotFound, Violations
from meshkit.fields import FieldType
from meshkit.identity import Principal
from services.contacts import repository
from services.contacts.indicator_rules import DIMENSION_ID, K_RANGE, MIN_COMPONENTS_RANGE, P_RANGE
from services.contacts.models import AggregateDimensionRow, DisclosureRulesRow, utcnow
from services.contacts.validation import page_size

DIMENSIONS_LIST = "dimensions"

MAX_DIMENSIONS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELD_TYPES = frozenset({FieldType.TEXT, FieldType.ENUM, FieldType.BOOLEAN})


class Source(StrEnum):
    FIELD = "field"  # the value of a text, enum or boolean field
    YEAR = "year"  # the year of a date field
    KIND = "kind"  # person or company
    COMPONENT = "component"  # the component that holds the measured value


@dataclass(frozen=True)
class Dimension:
    id: str
    label_fr: str
    label_en: str
    source: Source | None  # None: unspecified (refused)
    field: str = ""  # with FIELD and YEAR


@dataclass(frozen=True)
class DisclosureSettings:
    k: int = 5
    p: int = 80
    min_components: int = 2
    updated_by: str = ""
    updated_at: datetime | None = None


def _text(problems: Violations, name: str, value: str) -> str:
    clean = value.strip()
    if not clean:
        problems.add(name, "is required")
    elif len(clean) > 200:
        problems.add(name, "at most 200 characters")
    elif _CONTROL.search(clean):
        problems.add(name, "must not contain control characters")
    return clean


def put_dimension(db: Database, principal: Principal, dimension: Dimension) -> Dimension:
    """Creates or replaces a dimension (administrators); every problem reported at once."""
    principal.require_admin()
    problems = Violations()
    if not DIMENSION_ID.fullmatch(dimension.id):
        problems.add("id", "[a-z][a-z0-9_]{0,39}")
    label_fr = _text(problems, "label_fr", dimension.label_fr)
    label_en = _text(problems, "label_en", dimension.label_en)
    field = dimension.field.strip()
    with db.transaction() as session:
        if dimension.source is None:
            problems.add("source", "is required")
        elif dimension.source in (Source.FIELD, Source.YEAR):
            catalogue = repository.load_catalogue(session)
            kind = catalogue.type_of(field) if field else None
            wanted = FIELD_TYPES if dimension.source is Source.FIELD else {FieldType.DATE}
            if not field:
                problems.add("field", "is required with this source")
            elif kind is None:
                problems.add("field", "is not a field of the catalogue")
            elif kind not in wanted:
                need = "a text, enum or boolean" if dimension.source is Source.FIELD else "a date"
                problems.add("field", f"must be {need} field")
        elif field:
            problems.add("field", "only FIELD and YEAR dimensions name a field")
        exists = session.get(AggregateDimensionRow, dimension.id) is not None
        if not exists and _count(session) >= MAX_DIMENSIONS:
            problems.add("id", f"at most {MAX_DIMENSIONS} dimensions")
        problems.raise_if_any()
        assert dimension.source is not None
        clean = Dimension(
            dimension.id,
            label_fr,
            label_en,
            dimension.source,
            field if dimension.source in (Source.FIELD, Source.YEAR) else "",
        )
        session.merge(
            AggregateDimensionRow(
                id=clean.id,
                label_fr=clean.label_fr,
                label_en=clean.label_en,
                source=clean.source.value if clean.source else "",
                field=clean.field or None,
                updated_by=principal.subject,
                updated_at=utcnow(),
            )
        )
    return clean


def _count(session: Session) -> int:
    return len(list(session.scalars(select(AggregateDimensionRow.id))))


def dimensions(session: Session) -> dict[str, Dimension]:
    """Every dimension, by id."""
    rows = session.scalars(select(AggregateDimensionRow).order_by(AggregateDimensionRow.id))
    return {
        row.id: Dimension(row.id, row.label_fr, row.label_en, Source(row.source), row.field or "")
        for row in rows
    }


def list_dimensions(
    db: Database, principal: Principal, requested_size: int = 0, page_token: str = ""
) -> tuple[list[Dimension], str]:
    """One page of the dimensions by id (any signed-in caller), and the next page's token."""
    size = page_size(requested_size)
    after = page_tokens.after_str(page_token, DIMENSIONS_LIST)
    with db.transaction() as session:
        query = select(AggregateDimensionRow).order_by(AggregateDimensionRow.id).limit(size + 1)
        if after is not None:
            query = query.where(AggregateDimensionRow.id > after)
        rows = list(session.scalars(query))
    listed = [
        Dimension(row.id, row.label_fr, row.label_en, Source(row.source), row.field or "")
        for row in rows[:size]
    ]
    if len(rows) <= size:
        return listed, ""
    return listed, page_tokens.encode(DIMENSIONS_LIST, (rows[size - 1].id,))


def delete_dimension(db: Database, principal: Principal, dimension_id: str) -> None:
    principal.require_admin()
    with db.transaction() as session:
        gone = session.execute(
            delete(AggregateDimensionRow).where(AggregateDimensionRow.id == dimension_id)
        )
        if not getattr(gone, "rowcount", 0):
            raise NotFound("id: no such dimension")


def disclosure_settings(session: Session) -> DisclosureSettings:
    row = session.get(DisclosureRulesRow, 1)
    if row is None:
        return DisclosureSettings()
    return DisclosureSettings(row.k, row.p, row.min_components, row.updated_by, row.updated_at)


def get_disclosure_rules(db: Database, principal: Principal) -> DisclosureSettings:
    with db.transaction() as session:
        return disclosure_settings(session)


def set_disclosure_rules(
    db: Database, principal: Principal, k: int, p: int, min_components: int
) -> DisclosureSettings:
    """Replaces the publication rules (administrators): k in 2..20, p in 1..100, components ≥ 2."""
    principal.require_admin()
    problems = Violations()
    if not K_RANGE[0] <= k <= K_RANGE[1]:
        problems.add("k", f"between {K_RANGE[0]} and {K_RANGE[1]}")
    if not P_RANGE[0] <= p <= P_RANGE[1]:
        problems.add("p", f"between {P_RANGE[0]} and {P_RANGE[1]}")
    if not MIN_COMPONENTS_RANGE[0] <= min_components <= MIN_COMPONENTS_RANGE[1]:
        low, high = MIN_COMPONENTS_RANGE
        problems.add(
            "min_components", f"between {low} and {high}: one component's figure is its own"
        )
    problems.raise_if_any()
    now = utcnow()
    with db.transaction() as session:
        session.merge(
            DisclosureRulesRow(
                id=1,
                k=k,
                p=p,
                min_components=min_components,
                updated_by=principal.subject,
                updated_at=now,
            )
        )
    return DisclosureSettings(k, p, min_components, principal.subject, now)
