"""The README, the CI script and docker-compose.yml say the same thing as the code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import yaml
from sqlalchemy.engine import make_url

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
        names = env_names(service)
        known = set(names) | {f"{name}_FILE" for name in names}
        unknown = set(spec["environment"]) - known
        assert not unknown, f"{service} is given settings it does not read: {unknown}"
        assert "healthcheck" in spec


def test_compose_names_only_services_that_exist() -> None:
    names = set(COMPOSE["services"])
    for spec in COMPOSE["services"].values():
        assert set(spec.get("depends_on", {})) <= names


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


# --- hardened deployment: compose and the image -------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text()
APPS = ("contacts", "consent", "campaigns", "gateway")
DATABASE_SERVICES = ("contacts", "consent", "campaigns")
# What `crm keys --dir DIR` makes (the lead's layout, docs/deployment.md).
KEY_LAYOUT = {
    "dev-private.pem",
    "dev-public.pem",
    *(f"service-{name}-private.pem" for name in APPS),
    "service-keys.jwks.json",
    "receipt-private.pem",
    "receipt-public.pem",
    "unsubscribe-secret",
    "suppression-secret",
    "console-secret",
}


def _db_secrets(folder: Path) -> set[str]:
    """Runs deploy/db-secrets.sh into `folder`; the names of the files it made."""
    subprocess.run(
        ["sh", str(ROOT / "deploy" / "db-secrets.sh"), str(folder)],
        check=True,
        capture_output=True,
    )
    return {p.name for p in folder.iterdir()}


def _secret_file(name: str) -> str:
    return Path(COMPOSE["secrets"][name]["file"]).name


def test_the_image_runs_as_a_fixed_non_root_user_without_healthcheck_or_dev_tools() -> None:
    final_stage = DOCKERFILE.rsplit("\nFROM ", 1)[-1]
    user = re.findall(r"^USER (\S+)$", final_stage, re.M)
    assert user and user[-1].split(":")[0].isdigit() and int(user[-1].split(":")[0]) > 0
    assert not re.search(r"^HEALTHCHECK", DOCKERFILE, re.M)
    assert "requirements-dev" not in DOCKERFILE and "COPY . " not in DOCKERFILE
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()
    for service in APPS:
        assert COMPOSE["services"][service]["user"] == user[-1], service


def test_every_app_service_is_read_only_limited_restarted_and_probed_with_a_start_period() -> None:
    for name, spec in COMPOSE["services"].items():
        limits = spec["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and limits["memory"], name
        assert spec["restart"] in ("unless-stopped", "always", "on-failure"), name
        assert spec["healthcheck"]["start_period"], name
    for service in APPS:
        spec = COMPOSE["services"][service]
        assert spec["read_only"] is True, service
        assert any(t.split(":")[0] == "/tmp" for t in spec["tmpfs"]), service
        assert spec["cap_drop"] == ["ALL"], service


def test_every_secret_file_is_one_that_crm_keys_or_db_secrets_makes(tmp_path: Path) -> None:
    made = KEY_LAYOUT | _db_secrets(tmp_path)
    files = {_secret_file(name) for name in COMPOSE["secrets"]}
    assert files <= made, f"no command makes {files - made}"
    assert all(spec["file"].startswith("./secrets/") for spec in COMPOSE["secrets"].values())


def test_crm_keys_makes_the_layout_compose_mounts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "keys", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "CRM_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stderr
    assert KEY_LAYOUT <= {p.name for p in tmp_path.iterdir()}


def test_each_service_holds_only_its_own_private_key_and_names_only_mounted_secrets() -> None:
    for service in APPS:
        spec = COMPOSE["services"][service]
        mounted = {_secret_file(name) for name in spec["secrets"]}
        private = {f for f in mounted if "private" in f and f != "receipt-private.pem"}
        assert private == {f"service-{service}-private.pem"}, service
        for value in spec["environment"].values():
            if str(value).startswith("/run/secrets/"):
                assert str(value).removeprefix("/run/secrets/") in spec["secrets"], value
    assert not any("dev-private.pem" in _secret_file(name) for name in COMPOSE["secrets"]), (
        "no deployed service may hold the key that mints user tokens"
    )
    consent = {_secret_file(n) for n in COMPOSE["services"]["consent"]["secrets"]}
    assert "receipt-private.pem" in consent
    others = (
        set().union(*({_secret_file(n) for n in COMPOSE["services"][s]["secrets"]} for s in APPS))
        - consent
    )
    assert "receipt-private.pem" not in others


def test_each_service_connects_to_its_own_database_as_its_own_role(tmp_path: Path) -> None:
    _db_secrets(tmp_path)
    init = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    roles = set(re.findall(r"^\\set service (\w+)$", init, re.M))
    assert roles == set(DATABASE_SERVICES)
    postgres = COMPOSE["services"]["postgres"]
    for service in DATABASE_SERVICES:
        env = COMPOSE["services"][service]["environment"]
        assert f"{service.upper()}_DATABASE_URL" not in env, "a URL with a password in the env"
        path = env[f"{service.upper()}_DATABASE_URL_FILE"].removeprefix("/run/secrets/")
        url = make_url((tmp_path / _secret_file(path)).read_text().strip())
        assert (url.username, url.database, url.host) == (service, service, "postgres")
        password = (tmp_path / f"{service}-db-password").read_text().strip()
        assert url.password == password and len(password) >= 16
        assert f"{service}-db-password" in postgres["secrets"]
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
