"""Figures as CSV downloads, for the indicators and the pressure dashboard.

RFC 4180 with a header row, UTF-8 with a byte-order mark (so a spreadsheet opens accents
right), and no formula: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return is written behind a quote mark (a dimension's value is typed by people), unless
it is a number. The console writes only what the page shows: a suppressed figure is an
empty value and its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from werkzeug.wrappers import Response

from meshkit.csv_export import cell, to_csv

__all__ = ["cell", "csv_response", "to_csv"]


def csv_response(header: Sequence[str], rows: Iterable[Sequence[object]], name: str) -> Response:
    """A download of `rows` under the file name `name`."""
    body = "\ufeff" + to_csv(header, rows)
    response = Response(body, 200, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
