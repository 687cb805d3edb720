"""The one rule for a consent purpose's key, shared by every service that names a purpose.

The consent service owns the catalogue of purposes (which keys exist); this
module only says what a key may look like, so that contacts and campaigns can
refuse a malformed key before they ask consent.
"""

from __future__ import annotations

import re

PURPOSE_KEY = re.compile(r"[a-z0-9_-]{1,64}")
PURPOSE_KEY_RULE = "1 to 64 of a-z, 0-9, '_' and '-'"


def is_purpose_key(value: str) -> bool:
    """True when `value` has the form of a purpose key (not that the purpose exists)."""
    return PURPOSE_KEY.fullmatch(value) is not None
