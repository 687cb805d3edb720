"""bench/indicators_pressure.py at least starts (its --help runs) and rolls up every month."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.indicators_pressure import _all_months

ROOT = Path(__file__).resolve().parents[3]


def test_the_pressure_bench_describes_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.indicators_pressure", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--rows" in done.stdout and "--reuse" in done.stdout and "--runs" in done.stdout


def test_the_full_build_covers_every_month_without_a_gap() -> None:
    months = _all_months()
    assert months[0] == "2025-01" and len(months) == len(set(months)) == 13
    for before, after in zip(months, months[1:], strict=False):
        year, number = int(before[:4]), int(before[5:])
        assert after == f"{year + number // 12}-{number % 12 + 1:02d}"
