"""A gateway app whose upstream targets are unreachable, with a recorder of every gRPC call.

The requests these tests send must be refused before any upstream call, so the
recorder's list must stay empty; when a call is made, it fails fast (nothing
listens) and the recorder shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from flask import Flask
from flask.testing import FlaskClient

from meshkit.grpc_client import open_channel
from services.gateway.app import create_app
from services.gateway.clients import Clients, forwarded_token
from services.gateway.settings import GatewaySettings
from tests.support.processes import free_port
from tests.support.tokens import AUDIENCE, ISSUER, TestKeys
from tests.unit.gateway.harness import UNSUBSCRIBE_SECRET, CallRecorder


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> TestKeys:
    return TestKeys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def settings(keys: TestKeys) -> GatewaySettings:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    return GatewaySettings(
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=keys.public_file,
        service_keys_file=keys.service_keys_file,
        service_private_key_file=keys.service_private_file("gateway"),
        contacts_target=nowhere,
        consent_target=nowhere,
        campaigns_target=nowhere,
        rpc_timeout_seconds=2.0,
        unsubscribe_secret=UNSUBSCRIBE_SECRET,
    )


@pytest.fixture
def recorder() -> CallRecorder:
    return CallRecorder()


@pytest.fixture
def app(settings: GatewaySettings, keys: TestKeys, recorder: CallRecorder) -> Iterator[Flask]:
    def channel(token: Any) -> grpc.Channel:
        opened = open_channel(settings.contacts_target, token, settings.rpc_timeout_seconds)
        return grpc.intercept_channel(opened, recorder)

    gateway = keys.identity("gateway")
    clients = Clients.over(
        contacts=channel(forwarded_token),
        consent=channel(forwarded_token),
        campaigns=channel(forwarded_token),
        consent_as_gateway=channel(gateway.token),
        campaigns_as_gateway=channel(gateway.token),
        contacts_as_gateway=channel(gateway.token),
    )
    yield create_app(settings, clients)
    clients.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
