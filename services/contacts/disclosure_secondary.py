"""Secondary (complementary) suppression: the structure of a table, whatever its values.

A table's cells are keyed by their coordinates, `None` where a margin sums a dimension. A
*line* is a margin with the cells one level below it along one dimension. `complete` takes
the primary pattern and hides more cells until no hidden cell can be recovered from the
published ones: first the line rule (fast), then the exact rank test (`determined`, over
disclosure_linear), choosing each complementary cell greedily, the cheapest first.
docs/disclosure-control.md explains the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from services.contacts.disclosure_linear import RowSpace

Key = tuple[str | None, ...]  # a cell's coordinates; None where a margin sums a dimension


def order(key: Key) -> tuple[tuple[bool, str], ...]:
    """A total order on keys, "all" (None) after every value."""
    return tuple((v is None, v or "") for v in key)


def lines(keys: Iterable[Key]) -> list[tuple[Key, list[Key]]]:
    """Each margin with, for each dimension it sums, the cells one level below it."""
    present = set(keys)
    children: dict[tuple[Key, int], list[Key]] = {}
    for key in present:
        for i, v in enumerate(key):
            if v is not None:
                children.setdefault((key[:i] + (None,) + key[i + 1 :], i), []).append(key)
    return [
        (margin, sorted(below, key=order))
        for (margin, _), below in sorted(children.items(), key=lambda e: (order(e[0][0]), e[0][1]))
        if margin in present
    ]


def covers(margin: Key, key: Key) -> bool:
    return all(m is None or m == v for m, v in zip(margin, key, strict=True))


def determined(suppressed: Iterable[Key], keys: Iterable[Key]) -> list[Key]:
    """The suppressed cells whose value follows from the published cells (exact rank test).

    Unknowns are the suppressed interior cells; each published margin gives one equation
    over the unknowns it covers (published interior cells are constants).
    """
    hidden = set(suppressed)
    keys = list(keys)
    unknowns = sorted((k for k in keys if None not in k and k in hidden), key=order)

    def support(key: Key) -> list[Key]:
        return [u for u in unknowns if covers(key, u)]

    space = RowSpace(unknowns, (support(k) for k in keys if None in k and k not in hidden))
    return [k for k in sorted(hidden, key=order) if space.contains(support(k))]


def complete(
    keys: Sequence[Key],
    primary: set[Key],
    size: Callable[[Key], Any],
    publishable: Callable[[Sequence[Key]], bool],
) -> list[Key]:
    """The complementary cells to hide besides `primary`, in the order they were chosen.

    `size(key)` orders the candidates (smallest first; interior cells always before
    margins); `publishable(keys)` says whether the union of those cells passes the primary
    rules (the hidden cells of a line with a published margin have a computable total).
    """
    structure = lines(keys)
    if not structure:
        return []
    hidden = set(primary)
    chosen: list[Key] = []
    costs = {key: (None in key, size(key), order(key)) for key in keys}

    def hide(candidates: Iterable[Key]) -> bool:
        free = sorted((k for k in candidates if k not in hidden), key=costs.__getitem__)
        if not free:
            return False
        hidden.add(free[0])
        chosen.append(free[0])
        return True

    while True:
        changed = False
        for margin, below in structure:
            inside = [k for k in below if k in hidden]
            if margin in hidden:
                if not inside:  # the sum of the published cells would give it
                    changed |= hide(below)
                continue
            if not inside:
                continue
            if len(below) == 1:  # the margin is its only cell
                changed |= hide([margin])
                continue
            # the margin minus the published cells gives the total of the hidden ones:
            # there must be two, and together they must pass the primary rules
            while len(inside) < 2 or not publishable(inside):
                if not hide(below):
                    changed |= hide([margin])
                    break
                changed = True
                inside = [k for k in below if k in hidden]
        if changed:
            continue
        pinned = determined(hidden, keys)
        if not pinned:
            return chosen
        if not _free(pinned[0], keys, hide, hidden, costs):
            return chosen  # everything is hidden already: nothing is determined


def _free(
    target: Key,
    keys: Sequence[Key],
    hide: Callable[[Iterable[Key]], bool],
    hidden: set[Key],
    costs: dict[Key, Any],
) -> bool:
    """Hides the cheapest published cell that makes `target` undetermined."""
    candidates = sorted((k for k in keys if k not in hidden), key=costs.__getitem__)
    for key in candidates:
        if target not in determined([*hidden, key], keys):
            return hide([key])
    return hide(candidates[:1])  # none alone: the cheapest, and try again
