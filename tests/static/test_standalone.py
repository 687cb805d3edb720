"""The repository stands alone: a clone with nothing beside it passes its static tier.

A user clones the repository and has nothing else: no file may point outside
it, and every schema a test reads must be inside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT / "standards"
INSIDE_A_CLONE = "CRM_STANDALONE_CLONE"
# A path that climbs out of the repository to a sibling folder.
OUTSIDE = re.compile(r"\.\./(shared|standards)\b|parent\s*/\s*[\"']shared[\"']")


def _tracked_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file() or path.suffix in {".pyc", ".whl"}:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if name != "tests/static/test_standalone.py" and OUTSIDE.search(text):
            offenders.append(name)
    assert not offenders, f"these files point outside the repository: {offenders}"


def test_every_vendored_standard_has_its_licence_and_parses() -> None:
    readme = (STANDARDS / "README.md").read_text()
    for schema in STANDARDS.glob("*.json"):
        json.loads(schema.read_text())
        assert f"`{schema.name}`" in readme, f"{schema.name} is not described"
    for licence in ("compose-spec-LICENSE", "kantara-LICENSE.md"):
        assert (STANDARDS / licence).is_file()
        assert licence in readme


def test_the_kantara_example_receipt_validates_against_its_schema() -> None:
    schema = json.loads((STANDARDS / "kantara-consent-receipt-v1.1.schema.json").read_text())
    example = json.loads((STANDARDS / "kantara-consent-receipt-v1.1.example.json").read_text())
    jsonschema.Draft4Validator(schema).validate(example)


@pytest.mark.skipif(bool(os.environ.get(INSIDE_A_CLONE)), reason="already inside the clone")
def test_a_clone_with_nothing_beside_it_passes_the_static_tier(tmp_path: Path) -> None:
    """Only what git tracks (as in the working tree), in an empty folder: what a clone gets."""
    clone = tmp_path / "alone" / "crm-mesh"
    for name in _tracked_files():
        source = ROOT / name
        if source.is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # A repository of its own, holding exactly those files, as `git clone` would give.
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
    result = subprocess.run(
        # The linters read only the code: they answer the same in the clone, so the clone
        # does not run them twice (mypy cold is half a minute of a CI core).
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/static",
            "-q",
            "-p",
            "no:cacheprovider",
            "--ignore=tests/static/test_lint.py",
        ],
        cwd=clone,
        env={**os.environ, INSIDE_A_CLONE: "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
