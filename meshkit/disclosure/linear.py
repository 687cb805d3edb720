"""Exact linear algebra for disclosure control: is a hidden cell pinned by the published ones?

A table's additive cells (counts, sums) obey linear relations: a margin is the sum of the
interior cells it covers. Once some cells are published, a suppressed cell is recoverable
exactly when its coefficient vector (over the suppressed interior cells, the unknowns) lies
in the row space of the published margins' vectors. This module decides that with Gaussian
elimination over the prime field of P = 2**61 - 1: no rounding, integers only (20 times
faster than `fractions.Fraction`). A rank over GF(P) equals the rational rank unless P
divides an invariant factor of the 0/1 margin matrix; those factors are tiny for the
matrices of tables (1 or 2 in practice, bounded by the Hadamard bound in theory), so the
verdicts are the rational ones; the tests check them with exact fractions of their own.

Only the structure matters (which cells a margin covers), never the values: the same
pattern is therefore safe for the count, the sum and the mean of one query.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from heapq import heapify, heappop, heappush

P = 2**61 - 1  # a Mersenne prime


class RowSpace:
    """The span of some 0/1 vectors over named unknowns, kept in row echelon form."""

    def __init__(self, unknowns: Sequence[Hashable], vectors: Iterable[Iterable[Hashable]]):
        self._index = {name: i for i, name in enumerate(unknowns)}
        # pivot column -> its row (coefficient 1 at the pivot, then only later columns)
        self._rows: dict[int, dict[int, int]] = {}
        for support in vectors:
            self._insert(self._vector(support))

    def _vector(self, support: Iterable[Hashable]) -> dict[int, int]:
        vector: dict[int, int] = {}
        for name in support:
            column = self._index[name]
            vector[column] = vector.get(column, 0) + 1
        return {c: v for c, v in vector.items() if v}

    def _reduce(self, vector: dict[int, int]) -> dict[int, int]:
        """What is left of `vector` once the pivot rows have cleared every pivot column
        (lowest column first: a row only adds columns after its pivot)."""
        vector = dict(vector)
        pending = list(vector)
        heapify(pending)
        seen = set(pending)
        while pending:
            column = heappop(pending)
            factor = vector.get(column)
            row = self._rows.get(column)
            if not factor or row is None:
                continue
            for c, v in row.items():
                updated = (vector.get(c, 0) - factor * v) % P
                if updated:
                    vector[c] = updated
                    if c not in seen:
                        seen.add(c)
                        heappush(pending, c)
                else:
                    vector.pop(c, None)
        return vector

    def _insert(self, vector: dict[int, int]) -> None:
        rest = self._reduce(vector)
        if not rest:
            return
        pivot = min(rest)
        inverse = pow(rest[pivot], P - 2, P)
        self._rows[pivot] = {c: v * inverse % P for c, v in rest.items()}

    @property
    def rank(self) -> int:
        return len(self._rows)

    def contains(self, support: Iterable[Hashable]) -> bool:
        """Whether the 0/1 vector over `support` is a combination of the spanning vectors.

        The zero vector (an empty support) is always contained: a margin whose interior
        cells are all published is known.
        """
        return not self._reduce(self._vector(support))


class Combinations:
    """Which equations make one target vector a combination of them, and which can change.

    Built once over the equations (0/1 vectors over the unknowns), it answers for a target
    in their span: `particular`, one combination λ0 of the equations giving the target, and
    `nulls`, a basis of the combinations giving zero (redundant equations). Every combination
    giving the target is λ0 plus a combination of `nulls`: that tells, without eliminating
    again, whether dropping an equation or adding an unknown leaves the target determined.
    """

    def __init__(self, unknowns: Sequence[Hashable], equations: Sequence[Iterable[Hashable]]):
        self._index = {name: i for i, name in enumerate(unknowns)}
        # pivot column -> (its row, the combination of equations that row is)
        self._rows: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
        self.nulls: list[dict[int, int]] = []
        for number, support in enumerate(equations):
            vector, combination = self._reduce(self._vector(support), {number: 1})
            if vector:
                pivot = min(vector)
                inverse = pow(vector[pivot], P - 2, P)
                self._rows[pivot] = (
                    {c: v * inverse % P for c, v in vector.items()},
                    {e: v * inverse % P for e, v in combination.items()},
                )
            elif combination:
                self.nulls.append(combination)

    def _vector(self, support: Iterable[Hashable]) -> dict[int, int]:
        vector: dict[int, int] = {}
        for name in support:
            column = self._index[name]
            vector[column] = vector.get(column, 0) + 1
        return {c: v % P for c, v in vector.items() if v % P}

    def _reduce(
        self, vector: dict[int, int], combination: dict[int, int]
    ) -> tuple[dict[int, int], dict[int, int]]:
        """`vector` minus pivot rows, and `combination` minus the same multiples of theirs."""
        pending = list(vector)
        heapify(pending)
        seen = set(pending)
        while pending:
            column = heappop(pending)
            factor = vector.get(column)
            entry = self._rows.get(column)
            if not factor or entry is None:
                continue
            row, made_of = entry
            for c, v in row.items():
                updated = (vector.get(c, 0) - factor * v) % P
                if updated:
                    vector[c] = updated
                    if c not in seen:
                        seen.add(c)
                        heappush(pending, c)
                else:
                    vector.pop(c, None)
            for e, v in made_of.items():
                updated = (combination.get(e, 0) - factor * v) % P
                if updated:
                    combination[e] = updated
                else:
                    combination.pop(e, None)
        return vector, combination

    def particular(self, support: Iterable[Hashable]) -> dict[int, int] | None:
        """λ0 with Σ λ0[e]·equation[e] = the target's vector; None when not in the span."""
        rest, minus = self._reduce(self._vector(support), {})
        if rest:
            return None
        return {e: -v % P for e, v in minus.items()}
