"""Exact linear algebra for the tests that try to solve for a hidden cell (no floats)."""

from __future__ import annotations

from fractions import Fraction


def rank(matrix: list[list[Fraction]]) -> int:
    """Rank by forward elimination with exact fractions."""
    rows = [list(r) for r in matrix if any(r)]
    found = 0
    width = len(rows[0]) if rows else 0
    for col in range(width):
        pivot = next((i for i in range(found, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[found], rows[pivot] = rows[pivot], rows[found]
        for i in range(found + 1, len(rows)):
            factor = rows[i][col] / rows[found][col]
            rows[i] = [x - factor * y for x, y in zip(rows[i], rows[found], strict=True)]
        found += 1
    return found
