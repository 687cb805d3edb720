"""Opaque page tokens of the contacts listings: the last id served, bound to the query.

A token names the listed component and a digest of the rest of the query
(kind, updated_since, filters): a token resumes only the listing it came from,
so a caller cannot carry a position from one query into another.
"""

from __future__ import annotations

import base64
import binascii
import json

from meshkit.errors import invalid
from services.contacts.validation import is_contact_id


def encode(component_id: str, last_id: str, query: str = "") -> str:
    """A token resuming the listing of `component_id`, for query digest `query`, after `last_id`."""
    content = {"c": component_id, "a": last_id}
    if query:
        content["q"] = query
    payload = json.dumps(content, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(token: str, component_id: str, query: str = "") -> str | None:
    """The id to resume after (None for the first page), or InvalidArgument on `page_token`."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("c") != component_id
        or payload.get("q", "") != query
        or not isinstance(payload.get("a"), str)
        or not is_contact_id(payload["a"])
    ):
        raise invalid("page_token", "is not a token returned by this listing")
    return str(payload["a"])
