"""Through the real gateway app: an identity provider's token is mapped, then checked against
the organisation tree, so a group naming a component the tree lacks is refused before any call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from flask.testing import FlaskClient

from meshkit.grpc_client import open_channel
from meshkit.oidc import OidcIssuer
from meshkit.organisation import Organisation, Tree
from services.gateway.app import create_app
from services.gateway.clients import Clients, forwarded_token
from services.gateway.settings import GatewaySettings
from tests.support.oidc import TestProvider
from tests.support.tokens import TestKeys
from tests.unit.gateway.harness import CallRecorder, assert_problem, bearer

TREE = Tree(
    components=frozenset({"sciences"}),
    services=frozenset({("sciences", "relations-entreprises")}),
    levels=("staff", "manager"),
)


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    provider = TestProvider("EC")
    yield provider
    provider.close()


@pytest.fixture
def client(
    settings: GatewaySettings, keys: TestKeys, provider: TestProvider, recorder: CallRecorder
) -> Iterator[FlaskClient]:
    trusting = settings.model_copy(
        update={"oidc_issuers": [OidcIssuer.model_validate(provider.config())]}
    )

    def channel(token: Any) -> grpc.Channel:
        opened = open_channel(trusting.contacts_target, token, trusting.rpc_timeout_seconds)
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
    yield create_app(trusting, clients, tree=Organisation(lambda: TREE)).test_client()
    clients.close()


@pytest.mark.parametrize(
    ("groups", "level", "claim"),
    [
        (["/physique"], None, "component"),
        (["/sciences/astronomie"], None, "service"),
        (["/sciences/relations-entreprises"], "dean", "level"),
    ],
)
def test_a_mapping_to_what_the_tree_lacks_is_refused(
    client: FlaskClient,
    provider: TestProvider,
    recorder: CallRecorder,
    groups: list[str],
    level: str | None,
    claim: str,
) -> None:
    token = provider.token(groups=groups, level=level)
    response = client.get("/v1/contacts", headers=bearer(token))
    problem = assert_problem(response, 403)
    assert claim in problem["detail"]
    assert groups[0].split("/")[-1] not in problem["detail"]  # names the claim, not its value
    assert recorder.methods == []


def test_a_mapping_to_a_known_place_reaches_the_services(
    client: FlaskClient, provider: TestProvider, recorder: CallRecorder
) -> None:
    token = provider.token(groups=["/sciences/relations-entreprises"], level="manager")
    client.get("/v1/contacts", headers=bearer(token))  # nothing listens upstream: any answer
    assert recorder.methods == ["/crm.contacts.v1.ContactsService/SearchContacts"]


def test_a_provider_token_with_another_audience_is_401(
    client: FlaskClient, provider: TestProvider, recorder: CallRecorder
) -> None:
    token = provider.token(aud="account", groups=["/sciences"])
    assert_problem(client.get("/v1/contacts", headers=bearer(token)), 401)
    assert recorder.methods == []
