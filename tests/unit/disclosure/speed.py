"""How long protect_summaries takes on tables the size of the indicators' (a script, not a test).

    .venv/bin/python tests/unit/disclosure/speed.py

Random summaries as SQL with GROUPING SETS would give them (every margin), a few small cells
so that primary and complementary suppression both work; prints the time per table.
"""

from __future__ import annotations

import random
import time
from itertools import product

from meshkit.disclosure import CellSummary, Key, Rules, Statistic, protect_summaries

COMPONENTS = ["sciences", "lettres", "droit", "medecine", "ingenierie"]


def table(shape: tuple[int, ...], seed: int) -> dict[Key, CellSummary]:
    rng = random.Random(seed)
    interior: dict[Key, tuple[int, int, int, dict[str, tuple[int, int]]]] = {}
    for coords in product(*(range(n) for n in shape)):
        n = rng.choice([0, 1, 2, 3, 4]) if rng.random() < 0.15 else rng.randint(5, 400)
        parts = {c: (n // len(COMPONENTS), 100 * (n // len(COMPONENTS))) for c in COMPONENTS}
        parts[COMPONENTS[0]] = (n - 4 * (n // 5), 100 * (n - 4 * (n // 5)))
        top = rng.randint(1, 300)
        interior[tuple(f"v{c}" for c in coords)] = (n, 100 * n, top, parts)
    summaries: dict[Key, list] = {}
    for key, (n, magnitude, top, parts) in interior.items():
        for mask in product((False, True), repeat=len(shape)):
            margin = tuple(None if m else v for v, m in zip(key, mask, strict=True))
            s = summaries.setdefault(margin, [0, 0, 0, {}])
            s[0] += n
            s[1] += magnitude
            s[2] = max(s[2], top)
            for c, (cn, cm) in parts.items():
                before = s[3].get(c, (0, 0))
                s[3][c] = (before[0] + cn, before[1] + cm)
    return {
        k: CellSummary(n, m, m, min(top, m), {c: v for c, v in parts.items() if v[0]})
        for k, (n, m, top, parts) in summaries.items()
        if n
    }


def main() -> None:
    for shape in [(10,), (10, 20), (10, 20, 8)]:
        summaries = table(shape, 1)
        for statistic in (Statistic.COUNT, Statistic.SUM):
            start = time.perf_counter()
            result = protect_summaries(summaries, statistic, Rules(), dimensions=len(shape))
            elapsed = time.perf_counter() - start
            hidden = len(result.suppressed)
            print(
                f"{len(shape)} dimension(s) {shape}: {len(summaries)} cells, {statistic}: "
                f"{elapsed * 1000:.1f} ms, {hidden} suppressed"
            )


if __name__ == "__main__":
    main()
