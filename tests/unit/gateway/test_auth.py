"""Every /v1 route needs a verified token, and the right scope, before any upstream call."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from meshkit.identity import TokenIssuer
from tests.support.tokens import AUDIENCE, ISSUER, TestKeys
from tests.unit.gateway.harness import CallRecorder, assert_problem, bearer

# One request per protected operation; bodies are valid, so only auth can refuse them.
CONTACT = {"kind": "person"}
GRANT = {
    "channel": "email",
    "purpose": "news",
    "scope": "grouping",
    "source": "s",
    "text_shown": "t",
}
WITHDRAW = {"channel": "email", "purpose": "news", "scope": "grouping", "source": "s"}
CAMPAIGN = {
    "name": "n",
    "purpose": "news",
    "subject_template": "s",
    "body_template": "b",
    "audience": {"all_of_component": True},
}
COMPONENT_ROUTES = [
    ("POST", "/v1/contacts", CONTACT),
    ("PATCH", "/v1/contacts/c-1", {"fields": {"job_title": "x"}}),
    ("DELETE", "/v1/contacts/c-1/membership", None),
    ("POST", "/v1/contacts/c-1/consents", GRANT),
    ("POST", "/v1/contacts/c-1/consents/withdraw", WITHDRAW),
    ("GET", "/v1/contacts/c-1/consents", None),
    ("POST", "/v1/campaigns", CAMPAIGN),
    ("GET", "/v1/campaigns", None),
    ("GET", "/v1/campaigns/k-1", None),
    ("POST", "/v1/campaigns/k-1/schedule", {"send_at": "2030-01-01T00:00:00Z"}),
    ("POST", "/v1/campaigns/k-1/send", {}),
    ("GET", "/v1/campaigns/k-1/deliveries", None),
]
# Any signed-in caller: a grouping-level reader (admin, DPO) sees grouping-shared values.
SIGNED_IN_ROUTES = [
    ("GET", "/v1/contacts", None),
    ("GET", "/v1/contacts/c-1", None),
]
ALL_PROTECTED = [
    *COMPONENT_ROUTES,
    *SIGNED_IN_ROUTES,
    ("POST", "/v1/components", {"id": "x", "name": "X"}),
    ("GET", "/v1/components", None),
]


def send(client: FlaskClient, method: str, path: str, body: object, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.open(path, method=method, json=body, headers=headers)


def bad_tokens(keys: TestKeys, tmp: Path) -> dict[str, str]:
    stranger = TestKeys(tmp)  # same issuer and audience, another key
    return {
        "expired": keys.issuer.mint("a@sciences", component="sciences", ttl_seconds=-3600),
        "wrongly signed": stranger.manager("sciences"),
        "wrong audience": TokenIssuer(keys.private_file, ISSUER, "someone-else").mint(
            "a@sciences", component="sciences"
        ),
        "wrong issuer": TokenIssuer(keys.private_file, "evil", AUDIENCE).mint(
            "a@sciences", component="sciences"
        ),
        "not a jwt": "not-a-jwt",
    }


@pytest.mark.parametrize(("method", "path", "body"), ALL_PROTECTED)
def test_missing_token_is_401(
    client: FlaskClient, recorder: CallRecorder, method: str, path: str, body: object
) -> None:
    response = send(client, method, path, body, {})
    problem = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "missing" in problem["detail"]
    assert recorder.methods == []


@pytest.mark.parametrize(
    "reason", ["expired", "wrongly signed", "wrong audience", "wrong issuer", "not a jwt"]
)
def test_invalid_tokens_are_401(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder, tmp_path: Path, reason: str
) -> None:
    token = bad_tokens(keys, tmp_path)[reason]
    for method, path, body in ALL_PROTECTED:
        problem = assert_problem(send(client, method, path, body, bearer(token)), 401)
        assert problem["detail"].startswith("invalid token")
    assert recorder.methods == []


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token"])
def test_malformed_authorization_headers_are_401(
    client: FlaskClient, recorder: CallRecorder, header: str
) -> None:
    assert_problem(client.get("/v1/contacts", headers={"Authorization": header}), 401)
    assert recorder.methods == []


@pytest.mark.parametrize(("method", "path", "body"), COMPONENT_ROUTES)
def test_component_routes_refuse_a_token_without_component(
    client: FlaskClient,
    keys: TestKeys,
    recorder: CallRecorder,
    method: str,
    path: str,
    body: object,
) -> None:
    for token in (keys.admin(), keys.service("campaigns"), keys.issuer.mint("someone")):
        assert_problem(send(client, method, path, body, bearer(token)), 403)
    assert recorder.methods == []


def test_creating_a_component_is_for_admins_only(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder
) -> None:
    body = {"id": "law", "name": "Faculté de droit"}
    assert_problem(
        client.post("/v1/components", json=body, headers=bearer(keys.manager("sciences"))), 403
    )
    assert recorder.methods == []
    # An admin passes the gateway; contacts is unreachable here, so that call fails with 503.
    assert_problem(client.post("/v1/components", json=body, headers=bearer(keys.admin())), 503)
    assert recorder.methods == ["/crm.contacts.v1.ContactsService/CreateComponent"]


def test_auth_comes_before_body_validation(client: FlaskClient, recorder: CallRecorder) -> None:
    assert_problem(client.post("/v1/contacts", data="{", content_type="application/json"), 401)
    assert recorder.methods == []


def test_public_routes_need_no_token(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200


CAMPAIGN_WRITES = [
    ("POST", "/v1/campaigns", CAMPAIGN),
    ("POST", "/v1/campaigns/k-1/schedule", {"send_at": "2099-01-01T00:00:00Z"}),
    ("POST", "/v1/campaigns/k-1/send", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), CAMPAIGN_WRITES)
@pytest.mark.parametrize("roles", [[], ["staff"], ["admin", "viewer", "contact_editor"]])
def test_campaign_writes_need_the_campaign_manager_role(
    client: FlaskClient,
    keys: TestKeys,
    recorder: CallRecorder,
    roles: list[str],
    method: str,
    path: str,
    body: object,
) -> None:
    token = keys.issuer.mint("bob@sciences", component="sciences", roles=roles)
    problem = assert_problem(send(client, method, path, body, bearer(token)), 403)
    assert "campaign_manager" in problem["detail"]
    assert recorder.methods == []


def test_campaign_reads_need_no_particular_role(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder
) -> None:
    token = keys.issuer.mint("bob@sciences", component="sciences", roles=["staff"])
    assert_problem(client.get("/v1/campaigns", headers=bearer(token)), 503)  # reached upstream
    assert recorder.methods == ["/crm.campaigns.v1.CampaignsService/ListCampaigns"]
