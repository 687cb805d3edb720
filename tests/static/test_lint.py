"""ruff (with isort) and mypy pass on the whole tree, as CONVENTIONS.md asks of CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ["meshkit", "services", "tests", "scripts", "bench"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lints_and_formats_cleanly() -> None:
    lint = _run("ruff", "check", *CODE)
    assert lint.returncode == 0, lint.stdout
    formatting = _run("ruff", "format", "--check", *CODE)
    assert formatting.returncode == 0, formatting.stdout


def test_mypy_finds_no_type_errors() -> None:
    result = _run("mypy", "meshkit", "services")
    assert result.returncode == 0, result.stdout
