"""Every benchmark at least starts: its --help runs and names the options the README gives.

The benchmarks themselves start meshes or seed large databases and are not part of the
suite; a broken import or argument parser would otherwise only show when someone runs one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

OPTIONS = {
    "console": ("--recipients", "--runs"),
    "indicators": ("--contacts", "--rows", "--reuse", "--only"),
    "indicators_aggregate": ("--contacts", "--runs", "--reuse"),
    "indicators_pressure": ("--rows", "--reuse", "--runs"),
    "pages": ("--campaigns", "--page-size"),
    "consent": ("--contacts", "--events", "--batch"),
    "contact_import": ("--rows",),
}


@pytest.mark.parametrize("bench", sorted(OPTIONS))
def test_the_bench_describes_itself(bench: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    missing = [option for option in OPTIONS[bench] if option not in done.stdout]
    assert not missing, done.stdout
