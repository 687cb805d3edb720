"""Opaque page tokens of the contacts listings: the last id served, bound to the query.

A token names the listed component and a digest of the rest of the query
(kind, updated_since, filters): a token resumes only the listing it came from,
so a caller cannot carry a position from one query into another.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from meshkit.errors import InvalidArgument, invalid
from services.contacts.validation import is_contact_id


def encode(component_id: str, last_id: str, query: str = "") -> str:
    """A token resuming the listing of `component_id`, for query digest `query`, after `last_id`."""
    return encode_position({"c": component_id, "q": query}, last_id)


def decode(token: str, component_id: str, query: str = "") -> str | None:
    """The id to resume after (None for the first page), or InvalidArgument on `page_token`."""
    last = decode_position(token, {"c": component_id, "q": query})
    if last is None or (isinstance(last, str) and is_contact_id(last)):
        return last
    raise _refused()


def encode_position(binding: Mapping[str, str], last: str | int) -> str:
    """A token carrying the last position served, bound to what lists it (`binding`)."""
    content: dict[str, object] = {key: value for key, value in binding.items() if value}
    content["a"] = last
    payload = json.dumps(content, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_position(token: str, binding: Mapping[str, str]) -> object:
    """The position a token carries (None for no token); InvalidArgument when the token is
    malformed or was issued for another listing (another `binding`)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        payload = None
    if (
        not isinstance(payload, dict)
        or "a" not in payload
        or any(payload.get(key, "") != value for key, value in binding.items())
    ):
        raise _refused()
    return payload["a"]


def _refused() -> InvalidArgument:
    return invalid("page_token", "is not a token returned by this listing")
