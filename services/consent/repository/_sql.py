"""SQL helpers every part of the repository shares (not part of its interface)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    JSON,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table: type[Any]) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def values_of(session: Session, values: Collection[str]) -> Any:
    """`SELECT value FROM <values>`, for `column IN (...)`: the values as ONE parameter, a
    JSON array the database unpacks (10,000 bound parameters cost more to send and parse
    than the query costs to run), and a set the planner joins to an index probe by probe."""
    document = json.dumps(list(set(values)))
    if session.get_bind().dialect.name == "postgresql":
        unpacked = func.json_array_elements_text(cast(literal(document), JSON))
    else:
        unpacked = func.json_each(literal(document))
    return select(unpacked.table_valued("value").c.value)
