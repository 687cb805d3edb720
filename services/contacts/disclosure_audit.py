"""The query auditor: refuses an answer that, set against earlier ones, isolates a few contacts.

The differencing attack: ask for a total, then for the same total without one contact, and
subtract. Each answer is safe on its own; together they give one contact's value. The auditor
keeps, per caller, a fingerprint of every published cell (the measure it is about, the
caller's own description of the query, and the set of contacts behind it, each contact id
turned into a keyed hash) and refuses a new answer when one of its published cells and
earlier published cells of the same measure combine into the total of fewer than k contacts:

- directly: 0 < |N Δ E| < k for a new cell N and an earlier cell E;
- through two groupings: 0 < |(A ⊔ B) Δ C| < k for disjoint A and B, where one of A, B, C is
  a new cell and one an earlier cell (a cell "sector=X" against "sector=X, region=Y" plus
  "sector=X, region≠Y, without one contact").

The sets are exact (no MinHash: a sketch would miss a difference of one). A refused answer is
not recorded: nothing of it was published. docs/disclosure-control.md gives the reasons.
"""

from __future__ import annotations

import hmac
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256

from meshkit.errors import PermissionDenied
from services.contacts.disclosure import Table

DIGEST = 16  # bytes of each keyed hash: 128 bits, no collision among a grouping's contacts


def hash_contacts(secret: bytes, contacts: Iterable[str]) -> frozenset[bytes]:
    """Contact ids as keyed hashes: the history names nobody without the secret."""
    return frozenset(
        hmac.new(secret, contact.encode(), sha256).digest()[:DIGEST] for contact in contacts
    )


@dataclass(frozen=True)
class Fingerprint:
    """One published cell of an answer, as the auditor keeps it."""

    measure: str  # what the values add up (the field); the statistic does not matter
    query: str  # the caller's own description of the query, for the refusal's message
    members: frozenset[bytes]  # keyed hashes of the contacts behind the cell

    def members_bytes(self) -> bytes:
        """The members for storage: the sorted digests, end to end."""
        return b"".join(sorted(self.members))

    @classmethod
    def from_storage(cls, measure: str, query: str, members: bytes) -> Fingerprint:
        if len(members) % DIGEST:
            raise ValueError("not a fingerprint")
        return cls(
            measure,
            query,
            frozenset(members[i : i + DIGEST] for i in range(0, len(members), DIGEST)),
        )


def fingerprints(table: Table, *, measure: str, query: str, secret: bytes) -> list[Fingerprint]:
    """The fingerprints of the published cells of `table` (margins included)."""
    return [
        Fingerprint(measure, query, hash_contacts(secret, table.members[cell.key]))
        for cell in table.published
    ]


@dataclass(frozen=True)
class Refusal:
    earlier_query: str
    k: int
    code: str = "differencing"

    @property
    def message(self) -> str:
        return (
            f"This aggregate is refused: set against your earlier query «{self.earlier_query}», "
            f"it would give the figures of fewer than {self.k} contacts. "
            "Ask for a broader group, or the same grouping as before."
        )

    def error(self) -> PermissionDenied:
        return PermissionDenied(self.message)


@dataclass(frozen=True)
class _Set:
    members: frozenset[bytes]
    query: str
    earlier: bool


def _symmetric(a: frozenset[bytes], b: frozenset[bytes], k: int) -> bool:
    """0 < |a Δ b| < k."""
    if abs(len(a) - len(b)) >= k:
        return False
    return 0 < len(a ^ b) < k


def audit(history: Sequence[Fingerprint], answer: Sequence[Fingerprint], k: int) -> Refusal | None:
    """None when `answer` may be given after `history` (the same caller's earlier answers)."""
    refusal: Refusal | None = None
    for measure in sorted({f.measure for f in answer}):
        pool = [_Set(f.members, f.query, True) for f in history if f.measure == measure]
        new = [_Set(f.members, f.query, False) for f in answer if f.measure == measure]
        refusal = refusal or _audit_measure(pool, new, k)
    return refusal


def _audit_measure(earlier: list[_Set], new: list[_Set], k: int) -> Refusal | None:
    for cell in new:
        for old in earlier:
            if _symmetric(cell.members, old.members, k):
                return Refusal(old.query, k)
    everything = sorted(earlier + new, key=lambda s: len(s.members))
    sizes = [len(s.members) for s in everything]

    def sized(low: int, high: int) -> list[_Set]:
        return everything[bisect_left(sizes, low) : bisect_right(sizes, high)]

    for cell in new:
        n = len(cell.members)
        # the new cell as the whole C, against two disjoint parts A and B
        for a in everything:
            if a is cell:
                continue
            for b in sized(n - len(a.members) - k + 1, n - len(a.members) + k - 1):
                found = _triple(a, b, cell, k)
                if found:
                    return found
        # the new cell as a part A, with B, against a whole C
        for b in everything:
            if b is cell:
                continue
            low = n + len(b.members) - k + 1
            for c in sized(low, low + 2 * k - 2):
                found = _triple(cell, b, c, k)
                if found:
                    return found
    return None


def _triple(a: _Set, b: _Set, c: _Set, k: int) -> Refusal | None:
    if len({id(a), id(b), id(c)}) < 3 or not any(s.earlier for s in (a, b, c)):
        return None
    if a.members & b.members:
        return None
    if not _symmetric(a.members | b.members, c.members, k):
        return None
    return Refusal(next(s.query for s in (c, a, b) if s.earlier), k)
