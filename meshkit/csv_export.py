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
from collections.abc import Iterable, Sequence

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
