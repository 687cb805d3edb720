"""One mesh of real processes for the whole end-to-end tier, with components A and B.

The mesh and the browser tests' Chromium instances (tests/support/browser.py) are
stopped as soon as the next test to run is not an end-to-end one.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from contextlib import ExitStack
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


def _start_world(stack: ExitStack, workdir: Path) -> World:
    mesh = stack.enter_context(Mesh(workdir, pressure_max=1))
    keys = mesh.keys
    admin = keys.admin()
    for component in (COMPONENT_A, COMPONENT_B):
        body = {"id": component, "name": component.title()}
        reply = mesh.api.call("POST", "/v1/components", admin, body)
        assert reply.status == 201, reply.text
    return World(mesh, mesh.api, admin, keys.manager(COMPONENT_A), keys.manager(COMPONENT_B))


class _Worlds:
    """The one world of the tier: started by the first test that asks, stopped (with the
    idle browsers) when the next test to run is not an end-to-end one, so its processes
    neither poll nor hold connections while the other tiers run."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self._world: World | None = None

    def get(self, tmp_path_factory: pytest.TempPathFactory) -> World:
        if self._world is None:
            with ExitStack() as stack:
                self._world = _start_world(stack, tmp_path_factory.mktemp("mesh"))
                self._stack = stack.pop_all()
        return self._world

    def close(self) -> None:
        stack, self._stack, self._world = self._stack, None, None
        if stack is not None:
            stack.close()


_worlds = _Worlds()


# Module scope: a module run after the world was stopped (tests of other tiers ran in
# between) gets a new one instead of a stopped one.
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _worlds.get(tmp_path_factory)


def _in_this_tier(item: pytest.Item | None) -> bool:
    return item is not None and item.path.parent == Path(__file__).parent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Stops the world and quits the idle browsers when the end-to-end tests are over."""
    yield
    if not _in_this_tier(nextitem):
        try:
            browser.close_all()
        finally:
            _worlds.close()


def pytest_sessionfinish() -> None:
    try:
        browser.close_all()  # an interrupted run
    finally:
        _worlds.close()
