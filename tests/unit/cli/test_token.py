"""`crm token` signs with the development key and never makes one; `crm keys` makes them all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshkit.errors import Unauthenticated
from meshkit.identity import TokenIssuer, TokenVerifier, generate_dev_keys
from meshkit.service_keys import JWKS_FILE, SERVICE_NAMES, private_key_file

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


def test_token_never_signs_a_service_token(tmp_path: Path) -> None:
    home = tmp_path / "mesh-home"
    generate_dev_keys(home / "keys" / "dev-private.pem", home / "keys" / "dev-public.pem")
    env = {"CRM_HOME": str(home)}
    as_role = _crm(tmp_path, env, "token", "--sub", "x", "--role", "service")
    as_subject = _crm(tmp_path, env, "token", "--sub", "service:contacts", "--role", "admin")
    for result in (as_role, as_subject):
        assert result.returncode == 2 and result.stdout == ""
        assert "Traceback" not in result.stderr
    assert "cannot act as a service" in as_subject.stderr


def test_keys_makes_each_services_own_key_and_their_public_set(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    result = _crm(tmp_path, {}, "keys", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert names == {
        "dev-private.pem",
        "dev-public.pem",
        *(f"service-{name}-private.pem" for name in SERVICE_NAMES),
        JWKS_FILE,
        "receipt-private.pem",
        "receipt-public.pem",
        "unsubscribe-secret",
        "suppression-secret",
        "console-secret",
    }
    assert not (tmp_path / ".crm").exists()  # nothing written under CRM_HOME
    verifier = TokenVerifier("crm-mesh-dev", "crm-mesh", service_keys_file=folder / JWKS_FILE)
    for name in SERVICE_NAMES:
        own = TokenIssuer(private_key_file(folder, name), "crm-mesh-dev", "crm-mesh")
        assert verifier.verify(own.mint(f"service:{name}", roles=["service"])).is_service
        with pytest.raises(Unauthenticated):
            verifier.verify(own.mint("admin@grouping", roles=["admin"]))


def test_serve_makes_no_token_key_when_key_files_are_deployed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.cli import _ensure_dev_keys

    monkeypatch.setenv("CRM_HOME", str(tmp_path / "deployed"))
    monkeypatch.setenv("CONTACTS_SERVICE_PRIVATE_KEY_FILE", "/run/secrets/contacts-key")
    _ensure_dev_keys("contacts")
    made = {p.name for p in (tmp_path / "deployed" / "keys").iterdir()}
    assert not {"dev-private.pem", "service-contacts-private.pem", JWKS_FILE} & made
    assert "receipt-private.pem" in made  # what is not a token key is still made once
    monkeypatch.delenv("CONTACTS_SERVICE_PRIVATE_KEY_FILE")
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "embedded"))
    _ensure_dev_keys("contacts")  # embedded defaults: every key, as `crm up` makes them
    assert (tmp_path / "embedded" / "keys" / "dev-private.pem").exists()
