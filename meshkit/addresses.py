"""The one rule for an email address the mesh stores and mails: a plain ASCII addr-spec.

Contacts refuses anything else at the door, and campaigns checks again before
a To header is written, so an address that entered by another road (an old
import) is never mailed. No quoted local part, no IP literal, no space, comma
or line break (header injection), RFC 5321 lengths, a top-level label that
starts with a letter. Only ASCII letters match, whatever their case: a
character that merely lower-cases to ASCII (KELVIN SIGN) does not.
"""

from __future__ import annotations

import re

_LOCAL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*@(?:{_LABEL}\.)+{_TOP_LABEL}")
MAX_ADDRESS = 254
MAX_LOCAL_PART = 64


def is_valid_address(address: str) -> bool:
    """True for a plain ASCII addr-spec within RFC 5321's limits."""
    if len(address) > MAX_ADDRESS or not _ADDRESS.fullmatch(address):
        return False
    return len(address.rpartition("@")[0]) <= MAX_LOCAL_PART
