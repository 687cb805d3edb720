"""The README's first command: `crm up` on embedded defaults delivers a mailing into a folder."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.embedded import EmbeddedMesh
from tests.support.mesh import Api

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Path]]:
    with EmbeddedMesh(tmp_path_factory.mktemp("newcomer")) as mesh:
        yield Api(f"http://127.0.0.1:{mesh.ports.gateway}"), mesh.home


def _token(home: Path, *args: str) -> str:
    command = [sys.executable, "-m", "services.cli", "token", *args]
    output = subprocess.run(
        command, env={**os.environ, "CRM_HOME": str(home)}, check=True, capture_output=True
    )
    return output.stdout.decode().strip()


def test_a_mailing_on_embedded_defaults_lands_in_the_mail_folder(
    embedded: tuple[Api, Path],
) -> None:
    api, home = embedded
    assert {p.suffix for p in home.glob("*.db")} == {".db"}  # SQLite files, no server
    admin = _token(home, "--sub", "admin", "--role", "admin")
    manager = _token(home, "--sub", "alice", "--component", "sciences")
    assert api.call("POST", "/v1/components", admin, {"id": "sciences", "name": "S"}).status == 201
    person = {"kind": "person", "fields": {"email": "marie@example.org", "first_name": "Marie"}}
    contact = api.call("POST", "/v1/contacts", manager, person).json["contact"]
    consent = {
        "channel": "email",
        "purpose": "newsletter",
        "scope": "component",
        "source": "web-form",
        "text_shown": "Oui.",
    }
    assert (
        api.call("POST", f"/v1/contacts/{contact['id']}/consents", manager, consent).status == 201
    )
    mailing = {
        "name": "Rentrée",
        "purpose": "newsletter",
        "subject_template": "Bonjour {{ first_name }}",
        "body_template": "À bientôt.",
        "audience": {"all_of_component": True},
    }
    campaign = api.call("POST", "/v1/campaigns", manager, mailing).json
    assert api.call("POST", f"/v1/campaigns/{campaign['id']}/send", manager).status == 202

    deadline = time.monotonic() + 60
    while not list((home / "mail").glob("*.eml")):
        assert time.monotonic() < deadline, "no mail caught"
        time.sleep(0.2)
    (path,) = list((home / "mail").glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "marie@example.org"
    assert message["Subject"] == "Bonjour Marie"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
