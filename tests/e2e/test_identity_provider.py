"""A person signed in with the identity provider works through the whole mesh: the gateway
and every service verify the provider's token themselves and map its claims the same way."""

from __future__ import annotations

from tests.e2e.conftest import COMPONENT_A, World
from tests.support.oidc import TestProvider

STAFF_ROLES = {"roles": ["contact_editor", "campaign_manager", "offline_access"]}


def provider(world: World) -> TestProvider:
    assert world.mesh.provider is not None
    return world.mesh.provider


def test_a_provider_token_reaches_the_services_with_its_claims_mapped(world: World) -> None:
    token = provider(world).token(groups=[f"/{COMPONENT_A}"], realm_access=STAFF_ROLES)
    # contacts checks the forwarded token again: the write is the component's own.
    contact = world.new_contact(token, first_name="Alice")
    reply = world.api.call("GET", f"/v1/contacts/{contact['id']}", token)
    assert reply.status == 200, reply.text
    seen = world.api.call("GET", f"/v1/contacts/{contact['id']}", world.a)
    assert seen.status == 200 and seen.json["fields"]["first_name"]["value"] == "Alice"


def test_a_provider_group_the_organisation_lacks_is_refused(world: World) -> None:
    token = provider(world).token(groups=["/physique"], realm_access=STAFF_ROLES)
    body = {"kind": "person", "fields": {"last_name": "Nobody"}}
    reply = world.api.call("POST", "/v1/contacts", token, body)
    assert reply.status == 403, reply.text
    assert "component" in reply.json["detail"] and "physique" not in reply.text
