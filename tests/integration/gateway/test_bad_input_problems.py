"""The issue's bad input, through the real gateway: each is a clear 4xx problem+json naming
what is wrong, and no service's database gains or loses a row."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from tests.integration.gateway.harness import A, B, Gateway, problem

GRANT = {
    "channel": "email",
    "purpose": "newsletter",
    "scope": "component",
    "source": "web-form",
    "text_shown": "Je souhaite recevoir la lettre de la faculté.",
}
CAMPAIGN = {
    "name": "Rentrée",
    "purpose": "newsletter",
    "subject_template": "Bonjour {{ first_name }}",
    "body_template": "À bientôt.",
    "audience": {"all_of_component": True},
}


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows of every table of one service's database."""
    with engine.connect() as connection:
        return {
            table: int(connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
            for table in inspect(engine).get_table_names()
        }


@contextmanager
def nothing_written(gateway: Gateway) -> Iterator[None]:
    """Every table of every service holds as many rows after the block as before."""
    before = {name: row_counts(engine) for name, engine in gateway.databases.items()}
    yield
    after = {name: row_counts(engine) for name, engine in gateway.databases.items()}
    assert after == before


def named(body: dict[str, Any]) -> set[str]:
    """The fields a problem's violations name."""
    return {error["field"] for error in body.get("errors", [])}


@pytest.fixture(scope="module")
def contact_id(gateway: Gateway) -> str:
    """A contact only A knows."""
    body = {"kind": "person", "fields": {"email": f"{uuid.uuid4().hex[:12]}@example.org"}}
    reply = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(A), body)
    assert reply.status == 201, reply.text
    return str(reply.json["contact"]["id"])


@pytest.fixture(scope="module")
def retired_purpose(gateway: Gateway) -> str:
    """A purpose of the catalogue an admin has deactivated."""
    key = f"retired_{uuid.uuid4().hex[:8]}"
    admin = gateway.keys.admin()
    body = {"key": key, "label_fr": "Ancien", "label_en": "Former", "channels": ["email"]}
    created = gateway.api.call("POST", "/v1/consent/purposes", admin, body)
    assert created.status == 201, created.text
    changed = gateway.api.call("PATCH", f"/v1/consent/purposes/{key}", admin, {"active": False})
    assert changed.status == 200, changed.text
    return key


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purpose": "no-such-purpose"}, "purpose"),
        ({"purpose": "Not A Purpose!"}, "purpose"),
        ({"channel": "pigeon"}, "channel"),
        ({"channel": "sms"}, "channel"),  # newsletter does not use sms
        ({"legal_basis": "bribery"}, "legal_basis"),
        ({"scope": {"component_id": B}}, "scope"),  # another component's scope
        ({"scope": B}, "scope"),
    ],
)
def test_a_bad_grant_is_a_400_naming_the_field(
    gateway: Gateway, contact_id: str, change: dict[str, Any], field: str
) -> None:
    path = f"/v1/contacts/{contact_id}/consents"
    with nothing_written(gateway):
        body = problem(gateway.api.call("POST", path, gateway.keys.manager(A), GRANT | change), 400)
    assert field in named(body) or body["detail"].startswith(field), body


def test_a_retired_purpose_is_refused_for_a_grant(
    gateway: Gateway, contact_id: str, retired_purpose: str
) -> None:
    path = f"/v1/contacts/{contact_id}/consents"
    with nothing_written(gateway):
        body = problem(
            gateway.api.call(
                "POST", path, gateway.keys.manager(A), GRANT | {"purpose": retired_purpose}
            ),
            400,
        )
    assert named(body) == {"purpose"}


def test_a_grant_for_a_contact_of_another_component_is_refused(
    gateway: Gateway, contact_id: str
) -> None:
    # B has never met this contact: it may record nothing about it, for any scope.
    path = f"/v1/contacts/{contact_id}/consents"
    with nothing_written(gateway):
        problem(gateway.api.call("POST", path, gateway.keys.manager(B), GRANT), 403)
        problem(
            gateway.api.call("POST", path, gateway.keys.manager(B), GRANT | {"scope": "grouping"}),
            403,
        )
        withdrawal = {"channel": "email", "purpose": "newsletter", "scope": "grouping"}
        problem(
            gateway.api.call(
                "POST",
                f"{path}/withdraw",
                gateway.keys.manager(A),
                withdrawal | {"source": "phone"},
            ),
            403,  # a grouping-wide withdrawal by staff needs the dpo role
        )


def test_a_forged_link_is_refused(gateway: Gateway, contact_id: str) -> None:
    forged = UnsubscribeTokens("not-the-mesh-secret").sign(
        UnsubscribeRequest(contact_id, "newsletter", "campaign-1")
    )
    with nothing_written(gateway):
        problem(gateway.api.call("GET", f"/unsubscribe/{forged}"), 404)
        problem(
            gateway.api.call(
                "POST",
                f"/unsubscribe/{forged}",
                raw=b"List-Unsubscribe=One-Click",
                content_type="application/x-www-form-urlencoded",
            ),
            404,
        )
        problem(gateway.api.call("GET", f"/consent/receipts/{forged}"), 404)


def test_a_privacy_request_by_anyone_but_the_groupings_dpo_is_refused(
    gateway: Gateway, contact_id: str
) -> None:
    body = {"kind": "erasure", "contact_id": contact_id}
    component_dpo = gateway.keys.issuer.mint(f"dpo@{A}", component=A, roles=["dpo"])
    with nothing_written(gateway):
        for token in (component_dpo, gateway.keys.manager(A), gateway.keys.admin()):
            problem(gateway.api.call("POST", "/v1/privacy-requests", token, body), 403)
        problem(gateway.api.call("POST", "/v1/privacy-requests", None, body), 401)


def test_a_campaign_on_a_purpose_outside_the_catalogue_is_refused(
    gateway: Gateway, retired_purpose: str
) -> None:
    if not gateway.with_campaigns:
        pytest.skip("campaigns is not in this tree")
    admin = gateway.keys.admin()
    by_post = f"by_post_{uuid.uuid4().hex[:8]}"
    new = {"key": by_post, "label_fr": "Courrier", "label_en": "Post", "channels": ["post"]}
    assert gateway.api.call("POST", "/v1/consent/purposes", admin, new).status == 201
    manager = gateway.keys.manager(A)
    with nothing_written(gateway):
        for purpose in ("no-such-purpose", retired_purpose, by_post):
            body = CAMPAIGN | {"purpose": purpose}
            reply = gateway.api.call("POST", "/v1/campaigns", manager, body)
            assert named(problem(reply, 400)) == {"purpose"}, purpose
    created = gateway.api.call("POST", "/v1/campaigns", manager, CAMPAIGN)
    assert created.status == 201, created.text
