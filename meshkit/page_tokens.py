"""One page-token format and one page-size rule for every list of the mesh.

A token is `<position>.<check>`: base64url (unpadded) of the JSON array of the
sort key of the last item served, and a keyed BLAKE2b digest of the list's name,
what the list is bound to (a component, a campaign, a contact, a query digest)
and that position. Callers treat it as opaque; a token whose check does not
match (edited, truncated, made up, or issued by another list or for another
binding) is INVALID_ARGUMENT on `page_token`, never a server error. The key is
not a secret: the check makes tampering and cross-list reuse evident, and every
list still filters by what the caller may see, so a forged position can at most
skip items, never reveal any. A token holds no personal data: positions are ids,
sequence numbers and timestamps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from meshkit.errors import InvalidArgument, invalid

Key = str | int | datetime
_FORMAT_KEY = b"crm-mesh page token v1"
_CHECK_BYTES = 12
_MAX_TOKEN = 1024  # far above any token we issue; longer input is refused before decoding


def page_size(asked: int, default: int, most: int) -> int:
    """The size of a page: `default` for 0, at most `most` (AIP-158), refused when negative."""
    if asked < 0:
        raise invalid("page_size", "must not be negative")
    return min(asked or default, most)


def encode(listing: str, position: Sequence[Key], *binding: str) -> str:
    """A token resuming `listing` (bound to `binding`) after the item at `position`."""
    payload = json.dumps([_plain(key) for key in position], separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_check(listing, binding, payload))}"


def decode(
    token: str, listing: str, shape: Sequence[type], *binding: str
) -> tuple[Key, ...] | None:
    """The position a token carries (None for no token: the first page).

    `shape` names the type of each key (str, int or datetime); anything else than a
    token this listing issued for this binding is InvalidArgument on `page_token`.
    """
    if not token:
        return None
    if len(token) > _MAX_TOKEN or token.count(".") != 1:
        raise refused()
    encoded, check = token.split(".")
    try:
        payload = _unb64(encoded)
        genuine = _unb64(check) == _check(listing, binding, payload)
        keys = json.loads(payload) if genuine else None
    except (binascii.Error, ValueError, UnicodeError):
        keys = None
    if not isinstance(keys, list) or len(keys) != len(shape):
        raise refused()
    return tuple(_typed(key, kind) for key, kind in zip(keys, shape, strict=True))


def after_int(token: str, listing: str, *binding: str) -> int | None:
    """The number (a sequence, a row id) a token resumes after; None for the first page."""
    position = decode(token, listing, (int,), *binding)
    if position is None:
        return None
    (last,) = position
    assert isinstance(last, int)  # decode checked the shape
    return last


def after_str(token: str, listing: str, *binding: str) -> str | None:
    """The text key (an id) a token resumes after; None for the first page."""
    position = decode(token, listing, (str,), *binding)
    if position is None:
        return None
    (last,) = position
    assert isinstance(last, str)
    return last


def after_time_and_id(token: str, listing: str, *binding: str) -> tuple[datetime, str] | None:
    """The (time, id) a token resumes after; None for the first page."""
    position = decode(token, listing, (datetime, str), *binding)
    if position is None:
        return None
    at, last = position
    assert isinstance(at, datetime) and isinstance(last, str)
    return at, last


def refused() -> InvalidArgument:
    """The error of a token this list did not issue."""
    return invalid("page_token", "is not a token returned by this listing")


def _plain(key: Key) -> str | int:
    if isinstance(key, datetime):
        if key.tzinfo is None:
            raise ValueError("a page position's time must be aware")
        return key.isoformat()
    return key


def _typed(key: object, kind: type) -> Key:
    if kind is datetime and isinstance(key, str):
        try:
            at = datetime.fromisoformat(key)
        except ValueError:
            raise refused() from None
        if at.tzinfo is not None:
            return at
    elif kind is int and isinstance(key, int) and not isinstance(key, bool):
        return key
    elif kind is str and isinstance(key, str):
        return key
    raise refused()


def _check(listing: str, binding: Sequence[str], payload: bytes) -> bytes:
    digest = hashlib.blake2b(key=_FORMAT_KEY, digest_size=_CHECK_BYTES)
    # Length-prefixed parts: ("ab", "c") and ("a", "bc") must not check alike.
    for part in (listing.encode(), *(b.encode() for b in binding), payload):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    # Strict: only the url-safe alphabet, no padding of ours, nothing appended.
    if "=" in text:
        raise ValueError("padded")
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(raw) != text:
        raise ValueError("not canonical")
    return raw
