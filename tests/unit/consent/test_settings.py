"""ConsentSettings: one-machine defaults, CONSENT_ prefix, every field documented."""

from __future__ import annotations

import pytest

from services.consent.settings import ConsentSettings


def test_defaults_run_on_one_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENT_LISTEN", raising=False)
    monkeypatch.delenv("CONSENT_DATABASE_URL", raising=False)
    settings = ConsentSettings()  # type: ignore[call-arg]
    assert settings.listen == "127.0.0.1:50052"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("consent.db")


def test_environment_uses_the_consent_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_LISTEN", "0.0.0.0:6000")
    monkeypatch.setenv("LISTEN", "0.0.0.0:7000")
    assert ConsentSettings().listen == "0.0.0.0:6000"  # type: ignore[call-arg]


def test_every_field_is_documented() -> None:
    for name, field in ConsentSettings.model_fields.items():
        assert field.description, name


def test_consent_finds_contacts_on_this_machine_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENT_CONTACTS_TARGET", raising=False)
    monkeypatch.delenv("CONSENT_RPC_TIMEOUT_SECONDS", raising=False)
    settings = ConsentSettings()  # type: ignore[call-arg]
    assert settings.contacts_target == "127.0.0.1:50051"
    assert settings.rpc_timeout_seconds > 0
    monkeypatch.setenv("CONSENT_CONTACTS_TARGET", "contacts:50051")
    assert ConsentSettings().contacts_target == "contacts:50051"  # type: ignore[call-arg]
