"""TLS settings: half a pair or client auth without a CA is refused; none is plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from scripts.settings_table import settings_class
from tests.support.certificates import TestCA


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("service", ["contacts", "consent", "campaigns", "gateway"])
def test_no_tls_file_means_plaintext(service: str) -> None:
    assert settings_class(service)().channel_credentials() is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", ["contacts", "consent", "campaigns", "gateway"])
def test_a_certificate_without_its_key_is_refused(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = service.upper()
    monkeypatch.setenv(f"{prefix}_TLS_CERT_FILE", str(tmp_path / "cert.pem"))
    with pytest.raises(ValidationError, match="TLS_CERT_FILE and TLS_KEY_FILE go together"):
        settings_class(service)()


def test_client_auth_without_a_ca_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = TestCA(tmp_path).issue("contacts", ("localhost",))
    monkeypatch.setenv("CONTACTS_TLS_CERT_FILE", str(cert))
    monkeypatch.setenv("CONTACTS_TLS_KEY_FILE", str(key))
    monkeypatch.setenv("CONTACTS_TLS_CLIENT_AUTH", "true")
    with pytest.raises(ValidationError, match="TLS_CLIENT_AUTH needs"):
        settings_class("contacts")()


def test_a_service_with_a_certificate_serves_and_calls_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = TestCA(tmp_path)
    cert, key = ca.issue("consent", ("localhost",))
    monkeypatch.setenv("CONSENT_TLS_CERT_FILE", str(cert))
    monkeypatch.setenv("CONSENT_TLS_KEY_FILE", str(key))
    monkeypatch.setenv("CONSENT_TLS_CA_FILE", str(ca.cert_file))
    settings = settings_class("consent")()
    assert settings.server_credentials() is not None  # type: ignore[attr-defined]
    assert settings.channel_credentials() is not None  # type: ignore[attr-defined]
