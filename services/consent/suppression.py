"""The suppression list's rules: one normal form per address, and its keyed hash (plain Python).

An address that objected, was erased, bounced for good or was suppressed by
hand is kept only as HMAC-SHA256(secret, normalise(address)): the list survives
an erasure and holds no address in clear, and without the secret nobody can
test a guessed address against it.

`normalise` is deliberately generic, the same for every provider: surrounding
white space trimmed, Unicode NFC, the local part case-folded (RFC 5321 allows a
case-sensitive local part, but no mailbox provider in use relies on it), the
domain lower-cased and written in IDNA ASCII (Python's standard `idna` codec,
IDNA 2003). No provider-specific trick (Gmail dots, `+tags`): two such
spellings are two entries, as they are two addresses for every other relay.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache

from meshkit.errors import DomainError, Violations

MAX_ADDRESSES = 10_000  # per call: one query each
MAX_ADDRESS_CHARS = 512  # before IDNA encoding; longer is not an address
# What str.isspace() calls white space (re's \s for str patterns), and the C0 controls.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


class Reason(StrEnum):
    """Why an address is on the list."""

    OBJECTED = "objected"
    ERASED = "erased"
    BOUNCED = "bounced"
    MANUAL = "manual"


class NotAnAddress(ValueError):
    """The text has no usable local part and domain."""


def normalise(address: str) -> str:
    """The one form under which two spellings of an address are the same entry."""
    text = unicodedata.normalize("NFC", address.strip())
    if len(text) > MAX_ADDRESS_CHARS or _SPACE_OR_CONTROL.search(text):
        raise NotAnAddress("not an email address")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise NotAnAddress("not an email address")
    return f"{_fold(local)}@{_ascii_domain(domain)}"


def address_hash(secret: bytes, address: str) -> str:
    """HMAC-SHA256 (hex) of the normalised address under the deployment's secret."""
    return hmac.digest(secret, normalise(address).encode(), "sha256").hex()


def _fold(local: str) -> str:
    """Case-folded and NFC, repeated until stable (folding can un-normalise a few letters)."""
    for _ in range(4):
        folded = unicodedata.normalize("NFC", local.casefold())
        if folded == local:
            break
        local = folded
    return local


@lru_cache(maxsize=4096)  # a mailing names few domains; the idna codec is slow
def _ascii_domain(domain: str) -> str:
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise NotAnAddress("the domain is not a valid host name") from None
    return ascii_domain.lower()


def item_hashes(secret: bytes, addresses: Sequence[str]) -> list[str]:
    """The keyed hash of each address of a batched check, "" where there is none to read.

    A send check never fails on one odd address: it cannot be on the list, since
    nothing unparsable was ever listed.
    """
    hashes = []
    for address in addresses:
        try:
            hashes.append(address_hash(secret, address) if address else "")
        except NotAnAddress:
            hashes.append("")
    return hashes


def hashes_of(secret: bytes, addresses: Sequence[str]) -> list[str]:
    """The keyed hash of each address, in order; InvalidArgument naming every bad one."""
    if not secret:
        raise DomainError("the suppression list has no secret configured")
    violations = Violations()
    if len(addresses) > MAX_ADDRESSES:
        violations.add("addresses", f"at most {MAX_ADDRESSES} addresses per call")
        violations.raise_if_any()
    hashes: list[str] = []
    for index, address in enumerate(addresses):
        try:
            hashes.append(address_hash(secret, address))
        except NotAnAddress as why:
            violations.add(f"addresses[{index}]", str(why))  # the value is never echoed
    violations.raise_if_any()
    return hashes
