"""Settings read from files: `<PREFIX><NAME>_FILE=/run/secrets/x` for every setting.

Container platforms hand secrets over as files (compose and Kubernetes secrets,
Docker swarm, Vault agents); an environment value is visible to anything that can
read the process's environment (`docker inspect`, /proc/<pid>/environ, crash
reports). Every setting of every service can therefore come from a file instead.
A file's content is never shown: neither in errors nor in logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

FILE_SUFFIX = "_FILE"


class SecretFileError(SettingsError):
    """A `*_FILE` setting that cannot be used; names variables and paths, never contents."""


def read_secret_file(variable: str, path: str) -> str:
    """The content of `path`, without one trailing newline (as `echo secret > file` writes)."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise SecretFileError(f"{variable}: cannot read {path}: {reason}") from None
    if content.endswith("\r\n"):
        return content[:-2]
    return content.removesuffix("\n")


class SecretFilesSource(PydanticBaseSettingsSource):
    """Values of `<prefix><field>_FILE` variables, read from the files they name."""

    def __init__(self, settings_cls: type[BaseSettings], env_prefix: str, case_sensitive: bool):
        super().__init__(settings_cls)
        self._prefix = env_prefix
        self._case_sensitive = case_sensitive

    def _environ(self) -> dict[str, str]:
        if self._case_sensitive:
            return dict(os.environ)
        return {name.upper(): value for name, value in os.environ.items()}

    def _name(self, field_name: str) -> str:
        name = f"{self._prefix}{field_name}"
        return name if self._case_sensitive else name.upper()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: __call__ reads every field at once (abstract in the base class)."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = self._environ()
        values: dict[str, Any] = {}
        for field_name in self.settings_cls.model_fields:
            plain = self._name(field_name)
            from_file = self._name(field_name + FILE_SUFFIX.lower())
            if from_file not in environ:
                continue
            if plain in environ:
                # Which one wins would be a guess; a secret half-moved to a file is a mistake.
                raise SecretFileError(f"{plain} and {from_file} are both set: set only one of them")
            values[field_name] = read_secret_file(from_file, environ[from_file])
        return values


class SecretFileSettings(BaseSettings):
    """Base of the mesh's settings: every field may come from `<PREFIX><NAME>_FILE`.

    Precedence: init arguments, then environment values, then files (a name set both
    ways is refused), then the .env file and file secrets of pydantic-settings.
    """

    # A value that fails validation is not echoed in the error: it may be a secret.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The env source already knows the prefix, including a per-instance `_env_prefix`.
        prefix = str(getattr(env_settings, "env_prefix", "") or "")
        case_sensitive = bool(getattr(env_settings, "case_sensitive", False))
        files = SecretFilesSource(settings_cls, prefix, case_sensitive)
        return init_settings, env_settings, files, dotenv_settings, file_secret_settings
