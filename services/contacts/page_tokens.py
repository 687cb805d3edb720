"""Opaque page tokens of ListContacts: the last id served, bound to the listed component."""

from __future__ import annotations

import base64
import binascii
import json

from meshkit.errors import invalid
from services.contacts.validation import is_contact_id


def encode(component_id: str, last_id: str) -> str:
    """A token that resumes the listing of `component_id` after `last_id`."""
    payload = json.dumps({"c": component_id, "a": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(token: str, component_id: str) -> str | None:
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
        or not isinstance(payload.get("a"), str)
        or not is_contact_id(payload["a"])
    ):
        raise invalid("page_token", "is not a token returned by this listing")
    return str(payload["a"])
