"""Bad input at the gateway: a 4xx problem+json, and nothing written anywhere."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.e2e.conftest import COMPONENT_A, World
from tests.support.tokens import AUDIENCE, ISSUER, TestKeys

pytestmark = pytest.mark.e2e


def _snapshot(world: World, contact_id: str) -> tuple[object, ...]:
    contacts = world.api.call("GET", "/v1/contacts?page_size=1000", world.a).json
    consents = world.api.call("GET", f"/v1/contacts/{contact_id}/consents", world.a).json
    campaigns = world.api.call("GET", "/v1/campaigns", world.a).json
    return (
        sorted(c["id"] for c in contacts["contacts"]),
        consents["events"],
        sorted(c["id"] for c in campaigns["campaigns"]),
    )


def _problem(reply: object, status: int) -> dict[str, object]:
    assert reply.status == status, reply.text  # type: ignore[attr-defined]
    assert reply.headers["Content-Type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    problem: dict[str, object] = reply.json  # type: ignore[attr-defined]
    assert problem["status"] == status
    assert {"type", "title"} <= problem.keys()
    assert "Traceback" not in reply.text  # type: ignore[attr-defined]
    return problem


def test_malformed_unknown_and_mistyped_input_is_refused(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    contact = world.new_contact(world.a)
    before = _snapshot(world, contact["id"])
    api = world.api
    _problem(
        api.call(
            "POST", "/v1/contacts", world.a, raw=b"{not json", content_type="application/json"
        ),
        400,
    )
    problem = _problem(
        api.call("POST", "/v1/contacts", world.a, {"kind": "person", "colour": "x"}), 400
    )
    assert any(e["field"] == "colour" for e in problem["errors"])  # type: ignore[union-attr]
    problem = _problem(
        api.call("POST", "/v1/contacts", world.a, {"kind": "person", "fields": {"email": 42}}),
        400,
    )
    assert any(e["field"] == "fields.email" for e in problem["errors"])  # type: ignore[union-attr]
    problem = _problem(
        api.call("POST", "/v1/contacts", world.a, {"kind": "person", "fields": {"email": "nope"}}),
        400,
    )
    assert any(e["field"] == "fields.email" for e in problem["errors"])  # type: ignore[union-attr]
    problem = _problem(
        api.call(
            "PATCH",
            f"/v1/contacts/{contact['id']}",
            world.a,
            {"fields": {"phone": "not a phone"}},
            headers={"If-Match": f'"{contact["etag"]}"'},
        ),
        400,
    )
    assert any(e["field"] == "set.phone" for e in problem["errors"])  # type: ignore[union-attr]
    grant = {
        "channel": "email",
        "purpose": "Bad Purpose!",
        "scope": "component",
        "source": "web",
        "text_shown": "ok",
    }
    _problem(api.call("POST", f"/v1/contacts/{contact['id']}/consents", world.a, grant), 400)
    campaign = {
        "name": "x",
        "purpose": "newsletter",
        "subject_template": "{{ salary }}",
        "body_template": "hi",
        "audience": {"contact_ids": [contact["id"]]},
    }
    _problem(api.call("POST", "/v1/campaigns", world.a, campaign), 400)
    campaign["audience"] = {"contact_ids": "not-a-list"}
    _problem(api.call("POST", "/v1/campaigns", world.a, campaign), 400)
    assert _snapshot(world, contact["id"]) == before


def test_bad_tokens_are_refused_and_write_nothing(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    contact = world.new_contact(world.a)
    before = _snapshot(world, contact["id"])
    keys: TestKeys = world.mesh.keys
    now = int(time.time())
    claims = {
        "sub": "m",
        "component": COMPONENT_A,
        "roles": ["campaign_manager"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now - 7200,
    }
    private = keys.private_file.read_bytes()
    expired = jwt.encode({**claims, "exp": now - 3600}, private, algorithm="ES256")
    wrong_audience = jwt.encode(
        {**claims, "exp": now + 600, "aud": "other"}, private, algorithm="ES256"
    )
    forged = TestKeys(tmp_path).manager(COMPONENT_A)
    body = {"kind": "person", "fields": {"email": "intruder@example.org"}}
    for token in (None, "garbage", expired, wrong_audience, forged):
        _problem(world.api.call("POST", "/v1/contacts", token, body), 401)
        _problem(world.api.call("GET", f"/v1/contacts/{contact['id']}", token), 401)
    assert _snapshot(world, contact["id"]) == before


def test_another_components_ids_are_refused_and_write_nothing(world: World) -> None:
    theirs = world.new_contact(world.b)
    contact = world.new_contact(world.a)
    before = _snapshot(world, contact["id"])
    other = world.campaign(world.b, [theirs["id"]])
    _problem(world.api.call("POST", f"/v1/campaigns/{other['id']}/send", world.a, {}), 404)
    _problem(
        world.api.call(
            "POST",
            f"/v1/campaigns/{other['id']}/schedule",
            world.a,
            {"send_at": "2030-01-01T00:00:00Z"},
        ),
        404,
    )
    reply = world.api.call(
        "PATCH",
        f"/v1/contacts/{theirs['id']}",
        world.a,
        {"fields": {"job_title": "x"}},
        headers={"If-Match": f'"{theirs["etag"]}"'},
    )
    assert reply.status == 403, reply.text  # not a member of B's contact
    grant = {
        "channel": "email",
        "purpose": "newsletter",
        "scope": "grouping",
        "source": "web",
        "text_shown": "ok",
    }
    _problem(world.api.call("POST", f"/v1/contacts/{contact['id']}/consents", world.a, grant), 403)
    assert _snapshot(world, contact["id"]) == before
    assert world.api.call("GET", f"/v1/campaigns/{other['id']}", world.b).json["status"] == "draft"
    _problem(world.api.call("POST", "/v1/components", world.a, {"id": "pirate", "name": "P"}), 403)
