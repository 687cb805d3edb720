"""Print (or --write into README.md) the table of settings, made from the settings classes."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic_settings import BaseSettings

SERVICES = ("contacts", "consent", "campaigns", "gateway")


def settings_class(service: str) -> type[BaseSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    return getattr(module, f"{service.title()}Settings")  # type: ignore[no-any-return]


def env_names(service: str) -> list[str]:
    """Every environment variable the service reads, in declaration order."""
    cls = settings_class(service)
    prefix = cls.model_config.get("env_prefix", "")
    return [f"{prefix}{name}".upper() for name in cls.model_fields]


def _defaults(cls: type[BaseSettings]) -> dict[str, str]:
    """Default values as a newcomer sees them, with CRM_HOME left symbolic."""
    with tempfile.TemporaryDirectory() as home:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        clean = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefix)}
        with _environ({**clean, "CRM_HOME": home}):
            values = cls().model_dump()
    shown = {}
    for name, value in values.items():
        if "secret" in name or "password" in name:
            shown[name] = "generated under `$CRM_HOME/keys`" if value else "(none)"
        elif value == "":
            shown[name] = "(empty)"
        else:
            shown[name] = f"`{str(value).replace(home, '$CRM_HOME')}`"
    return shown


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def table() -> str:
    """The markdown table: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for service in SERVICES:
        cls = settings_class(service)
        prefix = cls.model_config.get("env_prefix", "")
        defaults = _defaults(cls)
        for name, field in cls.model_fields.items():
            rows.append(f"| `{prefix}{name.upper()}` | {defaults[name]} | {field.description} |")
    return "\n".join(rows)


def write_readme(readme: Path) -> None:
    """Replaces the table between the README's settings-table markers."""
    text = readme.read_text()
    start, end = "<!-- settings-table -->\n\n", "\n\n<!-- /settings-table -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(head + start + table() + end + tail)


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme(Path(__file__).resolve().parent.parent / "README.md")
    else:
        print(table())
