"""Figures as CSV downloads, for the indicators and the pressure dashboard.

RFC 4180 with a header row, UTF-8 with a byte-order mark (so a spreadsheet opens accents
right), and no formula: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return is written behind a quote mark (a dimension's value is typed by people), unless
it is a number. The console writes only what the page shows: a suppressed figure is an
empty value and its reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from werkzeug.wrappers import Response

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def cell(value: object) -> str:
    """One value as written in the file (formula-looking text defused)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA) and not _NUMBER.match(text):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(name) for name in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


def csv_response(header: Sequence[str], rows: Iterable[Sequence[object]], name: str) -> Response:
    """A download of `rows` under the file name `name`."""
    body = "\ufeff" + to_csv(header, rows)
    response = Response(body, 200, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
