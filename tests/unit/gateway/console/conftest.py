"""Console apps over unreachable upstreams, signing people in with a real test provider.

Sign-in needs no upstream call: only pages that read data do, and these unit
tests assert on what happens before any (CSRF, sessions, sign-in, headers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.gateway.app import create_app
from services.gateway.clients import Clients
from services.gateway.settings import GatewaySettings
from tests.support.oidc import TestProvider
from tests.support.tokens import TestKeys

BASE = "https://localhost"  # the session cookie is Secure: the test client speaks "https"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    running = TestProvider("EC")
    yield running
    running.close()


@pytest.fixture
def make_app(
    settings: GatewaySettings, keys: TestKeys, provider: TestProvider, app: Flask
) -> Callable[..., Flask]:
    """A gateway app with console settings on top of the unit tier's (same upstream clients)."""
    clients: Clients = app.extensions["crm.gateway.clients"]

    def make(**console: Any) -> Flask:
        values = settings.model_dump()
        values.update(
            oidc_issuers=[provider.config()],
            console_oidc_issuer=provider.issuer,
            console_secret="unit-test-console-secret-0123456789abcdef",
            console_dev_private_key_file=keys.private_file,
        )
        values.update(console)
        return create_app(GatewaySettings(**values), clients)

    return make


@pytest.fixture
def console(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def browser(console: Flask) -> FlaskClient:
    """A test client that keeps cookies, like a browser."""
    return console.test_client()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def get(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    return client.get(path, base_url=BASE, **kwargs)


def post(client: FlaskClient, path: str, data: dict[str, str], **kwargs: Any) -> Any:
    return client.post(path, base_url=BASE, data=data, **kwargs)
