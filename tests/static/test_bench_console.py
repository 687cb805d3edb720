"""bench/console.py (the preview's 100,000-recipient bench) at least starts: its --help runs.

The bench itself starts the whole mesh and is not part of the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_console_bench_describes_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.console", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--recipients" in done.stdout and "--runs" in done.stdout
