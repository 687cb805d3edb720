"""The query auditor: refuses an answer that, set against earlier ones, isolates a few contacts.

The differencing attack: ask for a total, then for the same total without one contact, and
subtract. Each answer is safe on its own; together they give one contact's value. The auditor
keeps, per caller, a fingerprint of every published cell (the measure it is about, the
caller's own description of the query, and a power-sum sketch of the contacts behind it,
keyed: see sketch.py) and refuses a new answer when one of its published cells and earlier
published cells of the same measure combine into the total of fewer than k contacts:

- directly: 0 < |N Δ E| < k for a new cell N and an earlier cell E;
- through two groupings: 0 < |(A + B) Δ C| < k, where one of A, B, C is a new cell and one
  an earlier cell (a cell "sector=X" against "sector=X, region=Y" plus "sector=X, region≠Y,
  without one contact"). A + B is a multiset sum: a sketch cannot tell whether A and B are
  disjoint, and when they overlap in fewer than k contacts, A + B - (A ∪ B) is itself an
  attack (inclusion-exclusion), so the check is the multiset one.

A sketch of a cell is degrees(k) numbers whatever its size, and it decides exactly whether two
sets differ by fewer than k contacts (sketch.small_difference). A refused answer is not
recorded: nothing of it was published. docs/disclosure-control.md gives the reasons.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from meshkit.disclosure.cells import Table
from meshkit.disclosure.sketch import (
    Q,
    Sketch,
    contact_hash,
    degrees,
    sketch_of,
    small_difference,
    sql_hash,
    sql_power_sum,
)
from meshkit.errors import PermissionDenied

__all__ = [
    "Q",
    "Fingerprint",
    "Refusal",
    "Sketch",
    "audit",
    "contact_hash",
    "degrees",
    "fingerprints",
    "sketch_of",
    "small_difference",
    "sql_hash",
    "sql_power_sum",
]


@dataclass(frozen=True)
class Fingerprint:
    """One published cell of an answer, as the auditor keeps it."""

    measure: str  # what the values add up (the field); the statistic does not matter
    query: str  # the caller's own description of the query, for the refusal's message
    sketch: Sketch  # of the contacts behind the cell (keyed hashes, never the ids)


def fingerprints(table: Table, *, measure: str, query: str) -> list[Fingerprint]:
    """The fingerprints of the published cells of `table` (margins included).

    The table must carry a sketch for each published cell (summaries with sketches, or
    `protect(..., sketch_secret=...)`): a cell the auditor cannot see would let an attack by.
    """
    missing = [cell.key for cell in table.published if cell.key not in table.sketches]
    if missing:
        raise ValueError("a published cell has no sketch")
    return [Fingerprint(measure, query, table.sketches[cell.key]) for cell in table.published]


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
    sketch: Sketch
    query: str
    earlier: bool

    @property
    def size(self) -> int:
        return self.sketch.contacts


def audit(history: Sequence[Fingerprint], answer: Sequence[Fingerprint], k: int) -> Refusal | None:
    """None when `answer` may be given after `history` (the same caller's earlier answers)."""
    refusal: Refusal | None = None
    for measure in sorted({f.measure for f in answer}):
        pool = [_Set(f.sketch, f.query, True) for f in history if f.measure == measure]
        new = [_Set(f.sketch, f.query, False) for f in answer if f.measure == measure]
        refusal = refusal or _audit_measure(pool, new, k)
    return refusal


def _audit_measure(earlier: list[_Set], new: list[_Set], k: int) -> Refusal | None:
    for cell in new:
        for old in earlier:
            if small_difference(cell.sketch, old.sketch, k):
                return Refusal(old.query, k)
    everything = sorted(earlier + new, key=lambda s: s.size)
    sizes = [s.size for s in everything]

    def sized(low: int, high: int) -> list[_Set]:
        return everything[bisect_left(sizes, low) : bisect_right(sizes, high)]

    for cell in new:
        n = cell.size
        # the new cell as the whole C, against two parts A and B
        for a in everything:
            if a is cell:
                continue
            for b in sized(n - a.size - k + 1, n - a.size + k - 1):
                found = _triple(a, b, cell, k)
                if found:
                    return found
        # the new cell as a part A, with B, against a whole C
        for b in everything:
            if b is cell:
                continue
            low = n + b.size - k + 1
            for c in sized(low, low + 2 * k - 2):
                found = _triple(cell, b, c, k)
                if found:
                    return found
    return None


def _triple(a: _Set, b: _Set, c: _Set, k: int) -> Refusal | None:
    if len({id(a), id(b), id(c)}) < 3 or not any(s.earlier for s in (a, b, c)):
        return None
    if not small_difference(a.sketch + b.sketch, c.sketch, k):
        return None
    return Refusal(next(s.query for s in (c, a, b) if s.earlier), k)
