"""Figures as CSV downloads that a spreadsheet opens safely: one writer for every export.

RFC 4180: a header row, CRLF line ends, fields quoted only when needed. No formula: a text
cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is written behind a quote
mark (OWASP "CSV injection": a dimension's value, a purpose or a component name is typed by
people), unless it is a plain number such as `-12.5`. Used by the gateway's indicator and
pressure-dashboard exports, the console's downloads and campaigns' monthly report.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def cell(value: object) -> str:
    """One value as written in the file (None is empty; formula-looking text defused)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA) and not _NUMBER.match(text):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole file: the header, then one line per row, every cell through `cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(name) for name in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


class Figure(Protocol):
    """One figure of the pressure dashboard, as campaigns, the gateway or the console hold it."""

    @property
    def series(self) -> str: ...
    @property
    def component(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def published(self) -> bool: ...
    @property
    def value(self) -> int | None: ...
    @property
    def reason(self) -> str | None: ...


# The pressure dashboard's download, wherever it is made (REST, console, monthly report).
FIGURE_COLUMNS = ("series", "component", "purpose", "bucket", "published", "value", "reason")


def figure_rows(figures: Iterable[Figure]) -> Iterator[list[object]]:
    """One row per figure under FIGURE_COLUMNS; a suppressed one has its reason, no value."""
    for f in figures:
        published = f.published
        yield [
            f.series,
            f.component,
            f.purpose,
            f.bucket,
            "true" if published else "false",
            f.value if published else None,
            "" if published else (f.reason or ""),
        ]
