"""One codec for the page tokens of campaigns' lists: a position, bound to what is listed.

A token is base64 of `{"s": scope, "p": position}`: the scope (a campaign id, or
"" for a list of its own) makes a token of one list useless on another, and a
token that does not decode to a non-negative integer position of that scope is
INVALID_ARGUMENT on `page_token`. A token is not secret and holds no personal data.
"""

from __future__ import annotations

import base64
import binascii
import json

from meshkit.errors import invalid


def encode(scope: str, position: int) -> str:
    raw = json.dumps({"s": scope, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode(token: str, scope: str, what: str) -> int | None:
    """The position a token names; None for no token (the first page)."""
    if not token:
        return None
    try:
        # Strict: a token with anything added (even after its padding) is not a token.
        data = json.loads(base64.b64decode(token.encode(), altchars=b"-_", validate=True))
        position = data["p"]
        if (
            data["s"] == scope
            and isinstance(position, int)
            and not isinstance(position, bool)
            and position >= 0
        ):
            return position
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        pass
    raise invalid("page_token", f"is not a token from a previous page of {what}")
