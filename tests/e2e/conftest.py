"""One mesh of real processes for the whole end-to-end tier, with components A and B.

The browser tests share their Chromium instances (tests/support/browser.py); they are
quit as soon as the next test to run is not an end-to-end one.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import browser
from tests.support.mesh import Api, Mesh

COMPONENT_A = "sciences"
COMPONENT_B = "medecine"


@dataclass
class World:
    """The running mesh, seen through the tokens of two components."""

    mesh: Mesh
    api: Api
    admin: str
    a: str
    b: str

    def new_contact(self, token: str, **fields: str) -> dict[str, Any]:
        """Creates a person with a unique address; returns the creation reply's contact.

        `fields` are the caller's component's values, by catalogue id; the reply's
        `email` key is the address used, whoever may read it.
        """
        values = {"first_name": "Camille", "last_name": "Martin"}
        values["email"] = f"{uuid.uuid4().hex[:10]}@example.org"
        values.update(fields)
        reply = self.api.call("POST", "/v1/contacts", token, {"kind": "person", "fields": values})
        assert reply.status in (200, 201), reply.text
        contact: dict[str, Any] = reply.json["contact"]
        contact["email"] = values["email"]
        return contact

    def grant(self, token: str, contact_id: str, purpose: str = "newsletter") -> None:
        body = {
            "channel": "email",
            "purpose": purpose,
            "scope": "component",
            "source": "web-form",
            "text_shown": "I agree to receive the newsletter.",
        }
        reply = self.api.call("POST", f"/v1/contacts/{contact_id}/consents", token, body)
        assert reply.status == 201, reply.text

    def campaign(self, token: str, contact_ids: list[str], **fields: Any) -> dict[str, Any]:
        body = {
            "name": "Rentrée",
            "purpose": "newsletter",
            "subject_template": "Bonjour {{ first_name }}",
            "body_template": "Bonjour {{ first_name }} {{ last_name }},\nÀ bientôt.",
            "audience": {"contact_ids": contact_ids},
        }
        body.update(fields)
        reply = self.api.call("POST", "/v1/campaigns", token, body)
        assert reply.status == 201, reply.text
        return dict(reply.json)

    def send_and_wait(self, token: str, campaign_id: str) -> dict[str, Any]:
        reply = self.api.call("POST", f"/v1/campaigns/{campaign_id}/send", token, {})
        assert reply.status == 202, reply.text
        return self.mesh.wait_done(token, campaign_id)

    def outcomes(self, token: str, campaign_id: str) -> dict[str, str]:
        reply = self.api.call(
            "GET", f"/v1/campaigns/{campaign_id}/deliveries?page_size=1000", token
        )
        assert reply.status == 200, reply.text
        return {d["contact_id"]: d["outcome"] for d in reply.json["deliveries"]}


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir: Path = tmp_path_factory.mktemp("mesh")
    with Mesh(workdir, pressure_max=1) as mesh:
        keys = mesh.keys
        admin = keys.admin()
        for component in (COMPONENT_A, COMPONENT_B):
            body = {"id": component, "name": component.title()}
            reply = mesh.api.call("POST", "/v1/components", admin, body)
            assert reply.status == 201, reply.text
        yield World(mesh, mesh.api, admin, keys.manager(COMPONENT_A), keys.manager(COMPONENT_B))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Quits the idle browsers when the end-to-end tests are over (this conftest's items)."""
    yield
    if nextitem is None or nextitem.path.parent != item.path.parent:
        browser.close_all()


def pytest_sessionfinish() -> None:
    browser.close_all()  # an interrupted run
