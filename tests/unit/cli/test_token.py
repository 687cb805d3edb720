"""`crm token` signs with the mesh's key, and never makes a key of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from meshkit.identity import TokenVerifier, generate_dev_keys

ROOT = Path(__file__).resolve().parents[3]


def _crm(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_refuses_where_there_is_no_key_and_creates_nothing(tmp_path: Path) -> None:
    result = _crm(tmp_path, {}, "token", "--sub", "admin@grouping", "--role", "admin")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "CRM_HOME" in result.stderr
    assert "crm up" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_token_signs_with_the_key_in_crm_home(tmp_path: Path) -> None:
    home = tmp_path / "mesh-home"
    generate_dev_keys(home / "keys" / "dev-private.pem", home / "keys" / "dev-public.pem")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _crm(elsewhere, {"CRM_HOME": str(home)}, "token", "--sub", "alice@sciences")
    assert result.returncode == 0, result.stderr
    verifier = TokenVerifier(
        "crm-mesh-dev", "crm-mesh", public_key_file=home / "keys" / "dev-public.pem"
    )
    assert verifier.verify(result.stdout.strip()).subject == "alice@sciences"
    assert list(elsewhere.iterdir()) == []


def test_token_without_role_gives_contact_editor_and_campaign_manager(tmp_path: Path) -> None:
    home = tmp_path / "mesh-home"
    generate_dev_keys(home / "keys" / "dev-private.pem", home / "keys" / "dev-public.pem")
    result = _crm(tmp_path, {"CRM_HOME": str(home)}, "token", "--sub", "alice@sciences")
    assert result.returncode == 0, result.stderr
    verifier = TokenVerifier(
        "crm-mesh-dev", "crm-mesh", public_key_file=home / "keys" / "dev-public.pem"
    )
    roles = verifier.verify(result.stdout.strip()).roles
    assert roles == {"contact_editor", "campaign_manager"}
    help_text = _crm(tmp_path, {}, "token", "--help").stdout
    assert all(role in help_text for role in ("viewer", "dpo", "admin", "service"))


def test_token_carries_the_callers_own_email_claim(tmp_path: Path) -> None:
    home = tmp_path / "mesh-home"
    generate_dev_keys(home / "keys" / "dev-private.pem", home / "keys" / "dev-public.pem")
    verifier = TokenVerifier(
        "crm-mesh-dev", "crm-mesh", public_key_file=home / "keys" / "dev-public.pem"
    )
    env = {"CRM_HOME": str(home)}
    default = _crm(tmp_path, env, "token", "--sub", "alice@sciences", "--component", "sciences")
    assert default.returncode == 0, default.stderr
    assert verifier.verify(default.stdout.strip()).email == "alice@sciences.localhost"
    named = _crm(tmp_path, env, "token", "--sub", "bob", "--email", "bob@univ.example")
    assert verifier.verify(named.stdout.strip()).email == "bob@univ.example"
