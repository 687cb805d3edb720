"""The README's walk-through, run as written against `crm up`, prints what the README says.

Every ```sh block of the walk-through runs in one bash session, in the folder
where `crm up` runs (as the README asks); each `# → …` line of the README must
appear in the output, in order.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.embedded import EmbeddedMesh

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = re.compile(r"^\s*# → (.*)$")


def walkthrough_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walk-through with curl", 1)[1].split("\n## ", 1)[0]
    return [block for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def expected_lines(blocks: list[str]) -> list[str]:
    return [m.group(1) for b in blocks for line in b.splitlines() if (m := EXPECTED.match(line))]


def test_the_walkthrough_prints_what_the_readme_says(tmp_path: Path) -> None:
    blocks = walkthrough_blocks()
    expected = expected_lines(blocks)
    assert len(blocks) >= 5 and len(expected) >= 5, "the walk-through lost its blocks"
    with EmbeddedMesh(tmp_path) as mesh:
        script = "set -eo pipefail\n" + "\n".join(blocks)
        script = script.replace("localhost:8080", f"localhost:{mesh.ports.gateway}")
        env = {
            **mesh.env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        run = subprocess.run(
            ["bash", "-c", script],
            cwd=mesh.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    printed = [line.strip() for line in run.stdout.splitlines()]
    position = 0
    for line in expected:
        assert line in printed[position:], f"README says {line!r}; printed: {printed}"
        position = printed.index(line, position) + 1
