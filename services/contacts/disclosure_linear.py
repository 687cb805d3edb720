"""Exact linear algebra for disclosure control: is a hidden cell pinned by the published ones?

A table's additive cells (counts, sums) obey linear relations: a margin is the sum of the
interior cells it covers. Once some cells are published, a suppressed cell is recoverable
exactly when its coefficient vector (over the suppressed interior cells, the unknowns) lies
in the row space of the published margins' vectors. This module decides that with Gaussian
elimination over `fractions.Fraction`: no rounding, so "determined" means determined.

Only the structure matters (which cells a margin covers), never the values: the same
pattern is therefore safe for the count, the sum and the mean of one query.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from fractions import Fraction


class RowSpace:
    """The span of some 0/1 vectors over named unknowns, kept in reduced row echelon form."""

    def __init__(self, unknowns: Sequence[Hashable], vectors: Iterable[Iterable[Hashable]]):
        self._index = {name: i for i, name in enumerate(unknowns)}
        # pivot column -> its row, each row a sparse {column: coefficient}
        self._rows: dict[int, dict[int, Fraction]] = {}
        for support in vectors:
            self._insert(self._vector(support))

    def _vector(self, support: Iterable[Hashable]) -> dict[int, Fraction]:
        vector: dict[int, Fraction] = {}
        for name in support:
            column = self._index[name]
            vector[column] = vector.get(column, Fraction(0)) + 1
        return {c: v for c, v in vector.items() if v}

    def _reduce(self, vector: dict[int, Fraction]) -> dict[int, Fraction]:
        """What is left of `vector` once every pivot row has been subtracted from it."""
        vector = dict(vector)
        for column in sorted(vector):
            if column not in vector or column not in self._rows:
                continue
            factor = vector[column]
            for c, v in self._rows[column].items():
                updated = vector.get(c, Fraction(0)) - factor * v
                if updated:
                    vector[c] = updated
                else:
                    vector.pop(c, None)
        return vector

    def _insert(self, vector: dict[int, Fraction]) -> None:
        rest = self._reduce(vector)
        if not rest:
            return
        pivot = min(rest)
        scale = rest[pivot]
        row = {c: v / scale for c, v in rest.items()}
        # keep the form reduced: clear the new pivot from the rows already there
        for other in self._rows.values():
            factor = other.get(pivot)
            if factor:
                for c, v in row.items():
                    updated = other.get(c, Fraction(0)) - factor * v
                    if updated:
                        other[c] = updated
                    else:
                        other.pop(c, None)
        self._rows[pivot] = row

    @property
    def rank(self) -> int:
        return len(self._rows)

    def contains(self, support: Iterable[Hashable]) -> bool:
        """Whether the 0/1 vector over `support` is a combination of the spanning vectors.

        The zero vector (an empty support) is always contained: a margin whose interior
        cells are all published is known.
        """
        return not self._reduce(self._vector(support))
