"""The answer of one page of any list: its JSON, and an RFC 8288 link to the next page.

Every list of the gateway answers through `page`, so each carries the same
`Link: <...>; rel="next"` header when a next page exists (none on the last page).
The link is a relative reference (RFC 8288 section 3 resolves it against the
request's URL): it repeats the request's own query with the next `page_token`,
and never depends on a Host header the caller sent.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, request
from pydantic import BaseModel

from services.gateway.api import json_response


def page(model: BaseModel, next_page_token: str, status: int = 200) -> Response:
    """The JSON answer of one page, linking to the next one when there is one."""
    response = json_response(model, status)
    if next_page_token:
        response.headers["Link"] = f'<{next_page_url(next_page_token)}>; rel="next"'
    return response


def next_page_url(next_page_token: str) -> str:
    """This request's path and query, with `page_token` set to the next page's."""
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "page_token"]
    query.append(("page_token", next_page_token))
    return f"{request.script_root}{request.path}?{urlencode(query)}"
