"""The README, the CI script and docker-compose.yml say the same thing as the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import yaml

from scripts.settings_table import SERVICES, env_names, table

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT / "standards"
README = (ROOT / "README.md").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _shell_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, re.S)]


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(b for b in _shell_blocks(README) if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def test_readme_run_command_starts_the_mesh() -> None:
    run_command = _shell_blocks(README)[0]
    assert run_command.endswith("crm up")
    assert "requirements.lock" in run_command


def test_readme_settings_table_is_generated_from_the_code() -> None:
    between = re.search(
        r"<!-- settings-table -->\n\n(.*?)\n\n<!-- /settings-table -->", README, re.S
    )
    assert between, "settings table markers missing"
    assert between.group(1) == table(), "regenerate with scripts/settings_table.py"


def test_compose_validates_against_the_compose_specification() -> None:
    schema = json.loads((STANDARDS / "compose-spec.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(COMPOSE)


def test_each_service_starts_as_the_readme_says_with_settings_it_reads() -> None:
    for service in SERVICES:
        spec = COMPOSE["services"][service]
        assert spec["command"] == ["crm", "serve", service]
        assert f"crm serve {service}" in README
        known = set(env_names(service)) | {"CRM_HOME"}
        unknown = set(spec["environment"]) - known
        assert not unknown, f"{service} is given settings it does not read: {unknown}"
        assert "healthcheck" in spec


def test_compose_names_only_services_that_exist() -> None:
    names = set(COMPOSE["services"])
    for spec in COMPOSE["services"].values():
        assert set(spec.get("depends_on", {})) <= names
    init = ROOT / "deploy" / "postgres-init.sql"
    databases = set(re.findall(r"CREATE DATABASE (\w+);", init.read_text()))
    for service in ("contacts", "consent", "campaigns"):
        url = COMPOSE["services"][service]["environment"][f"{service.upper()}_DATABASE_URL"]
        assert url.rsplit("/", 1)[-1] in databases


def test_the_package_the_image_installs_ships_migrations_and_protos(tmp_path: Path) -> None:
    """The Dockerfile installs a wheel, not the tree: it must carry every migration."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for tree in (ROOT / "services").glob("*/migrations"):
        for path in tree.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert str(path.relative_to(ROOT)) in names
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "protos").rglob("*_pb2*.py")} <= names
