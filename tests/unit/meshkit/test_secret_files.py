"""Every setting of every service can come from a `*_FILE`, and its content never shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from meshkit.secret_files import SecretFileError, SecretFilesSource, read_secret_file
from meshkit.settings import LogSettings
from scripts.settings_table import SERVICES, env_names, settings_class

SECRET = "s3cret-value-never-shown"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_of_every_service_is_read_from_its_file(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class(service)
    names = env_names(service)
    for name in names:
        monkeypatch.setenv(f"{name}_FILE", str(_write(tmp_path, name, f"{name.lower()}\n")))
    prefix = str(cls.model_config["env_prefix"])
    read = SecretFilesSource(cls, prefix, case_sensitive=False)()
    assert read == {field: f"{prefix}{field}".lower() for field in cls.model_fields}
    assert len(read) == len(names)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_starts_with_its_listen_address_and_secret_from_files(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class(service)
    prefix = str(cls.model_config["env_prefix"])
    monkeypatch.setenv(f"{prefix}LISTEN_FILE", str(_write(tmp_path, "listen", "0.0.0.0:7\n")))
    monkeypatch.setenv(
        f"{prefix}JWT_ISSUER_FILE", str(_write(tmp_path, "issuer", "https://idp.example\n"))
    )
    settings = cls()
    assert settings.listen == "0.0.0.0:7"  # type: ignore[attr-defined]
    assert settings.jwt_issuer == "https://idp.example"  # type: ignore[attr-defined]
    if "unsubscribe_secret" in cls.model_fields:
        monkeypatch.setenv(
            f"{prefix}UNSUBSCRIBE_SECRET_FILE", str(_write(tmp_path, "unsub", SECRET + "\n"))
        )
        secret = cls().unsubscribe_secret  # type: ignore[attr-defined]
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        assert value == SECRET


def test_the_shared_log_settings_read_files_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_LOG_LEVEL_FILE", str(_write(tmp_path, "level", "DEBUG\n")))
    assert LogSettings().level == "DEBUG"


def test_a_setting_given_both_ways_is_refused_naming_both_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class("contacts")
    monkeypatch.setenv("CONTACTS_DATABASE_URL", "postgresql+psycopg://a@b/c")
    monkeypatch.setenv("CONTACTS_DATABASE_URL_FILE", str(_write(tmp_path, "url", SECRET)))
    with pytest.raises(SecretFileError) as refused:
        cls()
    message = str(refused.value)
    assert "CONTACTS_DATABASE_URL and CONTACTS_DATABASE_URL_FILE" in message
    assert SECRET not in message


def test_an_invalid_value_from_a_file_is_not_echoed_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class("campaigns")
    monkeypatch.setenv("CAMPAIGNS_SMTP_PORT_FILE", str(_write(tmp_path, "port", SECRET)))
    with pytest.raises(ValidationError) as refused:
        cls()
    assert "smtp_port" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_an_unreadable_file_names_the_variable_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("GATEWAY_UNSUBSCRIBE_SECRET_FILE", str(missing))
    with pytest.raises(
        SecretFileError, match=f"GATEWAY_UNSUBSCRIBE_SECRET_FILE: cannot read {missing}"
    ):
        settings_class("gateway")()


@pytest.mark.parametrize(
    ("content", "value"),
    [("x\n", "x"), ("x\r\n", "x"), ("x", "x"), ("x\n\n", "x\n"), (" x \n", " x "), ("", "")],
)
def test_one_trailing_newline_is_stripped_and_nothing_else(
    content: str, value: str, tmp_path: Path
) -> None:
    assert read_secret_file("V_FILE", str(_write(tmp_path, "f", content))) == value
