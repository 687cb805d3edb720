"""The request id: taken from `X-Request-Id` at the gateway (or made), carried in gRPC metadata.

One context variable holds the id of the request being served, so log lines and
outbound calls find it without it being passed around. The gateway binds it per
HTTP request; every gRPC server binds it from the `x-request-id` metadata of a call;
every outbound gRPC call sends it on.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

HEADER = "X-Request-Id"
METADATA_KEY = "x-request-id"
MAX_LENGTH = 64
# Visible ASCII without spaces: an id goes verbatim into log lines and headers, so
# nothing that could split a line, forge a field or carry much data gets through.
_VALID = re.compile(rf"[\x21-\x7e]{{1,{MAX_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("crm_request_id", default=None)


def new_request_id() -> str:
    """A fresh random id (32 hex digits)."""
    return uuid.uuid4().hex


def accepted(candidate: str | None) -> str:
    """`candidate` when it is a short run of visible ASCII, else a fresh id."""
    if candidate is not None and _VALID.fullmatch(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str | None:
    """The id bound in this context, or None outside any request."""
    return _current.get()


def bind_request_id(request_id: str | None) -> Token[str | None]:
    """Binds `request_id` for this context; give the token back to `unbind_request_id`."""
    return _current.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    """Restores the id bound before the matching `bind_request_id`."""
    _current.reset(token)
