"""Secondary (complementary) suppression: the structure of a table, whatever its values.

A table's cells are keyed by their coordinates, `None` where a margin sums a dimension. A
*line* is a margin with the cells one level below it along one dimension. `complete` takes
the primary pattern and hides more cells until no hidden cell can be recovered from the
published ones: first the line rule (fast), then the exact rank test (`determined`, over
meshkit.disclosure.linear), choosing each complementary cell greedily, the cheapest first.
docs/disclosure-control.md explains the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import product
from typing import Any

from meshkit.disclosure.linear import Combinations, P, RowSpace

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


def determined(
    suppressed: Iterable[Key],
    keys: Iterable[Key],
    *,
    among: Iterable[Key] | None = None,
    first: bool = False,
) -> list[Key]:
    """The suppressed cells whose value follows from the published cells (exact rank test).

    Unknowns are the suppressed interior cells; each published margin gives one equation
    over the unknowns it covers (published interior cells are constants). `among` limits
    the cells checked (all the suppressed ones by default); `first` stops at the first found.
    """
    hidden = set(suppressed)
    keys = list(keys)
    unknowns = sorted((k for k in keys if None not in k and k in hidden), key=order)
    # each unknown under every margin that covers it (2**dimensions keys per unknown)
    below: dict[Key, list[Key]] = {}
    for u in unknowns:
        for mask in product((False, True), repeat=len(u)):
            margin = tuple(None if m else v for v, m in zip(u, mask, strict=True))
            below.setdefault(margin, []).append(u)

    def support(key: Key) -> list[Key]:
        return below.get(key, [])

    space = RowSpace(unknowns, (support(k) for k in keys if None in k and k not in hidden))
    found: list[Key] = []
    for key in sorted(hidden if among is None else hidden.intersection(among), key=order):
        if space.contains(support(key)):
            found.append(key)
            if first:
                break
    return found


def complete(
    keys: Sequence[Key],
    primary: set[Key],
    size: Callable[[Key], Any],
    publishable: Callable[[Key, Sequence[Key], Sequence[Key]], bool],
) -> list[Key]:
    """The complementary cells to hide besides `primary`, in the order they were chosen.

    `size(key)` orders the candidates (smallest first; interior cells always before
    margins); `publishable(margin, line, hidden)` says whether the union of the `hidden`
    cells of that line (`line` being all the cells the margin sums along one dimension)
    passes the primary rules: the hidden cells of a line with a published margin have a
    computable total. The margin and the line let the caller tell whether the cells are
    disjoint in contacts (exact union) or not (a safe bound).
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
            while len(inside) < 2 or not publishable(margin, below, inside):
                if not hide(below):
                    changed |= hide([margin])
                    break
                changed = True
                inside = [k for k in below if k in hidden]
        if changed:
            continue
        pinned = determined(hidden, keys, first=True)
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
    """Hides the cheapest published cell that makes `target` undetermined.

    One elimination with the combinations recorded (`Combinations`) answers for every
    candidate: dropping a published margin's equation, or making a published interior cell
    an unknown. The main loop checks the result with a fresh rank test anyway.
    """
    candidates = sorted((k for k in keys if k not in hidden), key=costs.__getitem__)
    breaks = _breakers(target, hidden, keys)
    for key in candidates:
        if breaks is not None and breaks(key):
            return hide([key])
    return hide(candidates[:1])  # none alone: the cheapest, and try again


def _breakers(target: Key, hidden: set[Key], keys: Sequence[Key]) -> Callable[[Key], bool] | None:
    """A test "does hiding this published cell leave `target` undetermined?", or None."""
    unknowns = sorted((k for k in keys if None not in k and k in hidden), key=order)
    below: dict[Key, list[Key]] = {}
    for u in unknowns:
        for mask in product((False, True), repeat=len(u)):
            margin = tuple(None if m else v for v, m in zip(u, mask, strict=True))
            below.setdefault(margin, []).append(u)
    margins = [k for k in keys if None in k and k not in hidden]
    number = {m: e for e, m in enumerate(margins)}
    space = Combinations(unknowns, [below.get(m, []) for m in margins])
    particular = space.particular(below.get(target, []))
    if particular is None:
        return None
    used = set().union(*space.nulls) if space.nulls else set()

    def breaks(key: Key) -> bool:
        if None in key:  # its equation goes: no combination may do without it
            e = number[key]
            return bool(particular.get(e)) and e not in used
        # a new unknown, in the equations of the published margins over it
        over = [
            number[m]
            for mask in product((False, True), repeat=len(key))
            if any(mask)
            and (m := tuple(None if b else v for v, b in zip(key, mask, strict=True))) in number
        ]
        if any(sum(n.get(e, 0) for e in over) % P for n in space.nulls):
            return False  # some combination can cancel the new unknown
        wanted = 1 if None in target and covers(target, key) else 0
        return sum(particular.get(e, 0) for e in over) % P != wanted

    return breaks
