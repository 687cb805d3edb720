"""bench/indicators_pressure.py rolls up every month (its --help: tests/static/test_benches.py)."""

from __future__ import annotations

from bench.indicators_pressure import _all_months


def test_the_full_build_covers_every_month_without_a_gap() -> None:
    months = _all_months()
    assert months[0] == "2025-01" and len(months) == len(set(months)) == 13
    for before, after in zip(months, months[1:], strict=False):
        year, number = int(before[:4]), int(before[5:])
        assert after == f"{year + number // 12}-{number % 12 + 1:02d}"
