"""Bad input is refused with an RFC 9457 problem naming the fields, before any upstream call."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.tokens import TestKeys
from tests.unit.gateway.harness import CallRecorder, assert_problem, bearer, fields

GOOD_CONTACT = {"kind": "person", "fields": {"email": "ada@example.org"}}


def post_json(client: FlaskClient, path: str, token: str, raw: str) -> TestResponse:
    return client.post(path, data=raw, content_type="application/json", headers=bearer(token))


@pytest.mark.parametrize("raw", ["{", '{"kind": "person",}', "nul", '{"kind": "\\ud800"}'])
def test_malformed_json_is_400_on_body(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder, raw: str
) -> None:
    problem = assert_problem(post_json(client, "/v1/contacts", keys.manager("sciences"), raw), 400)
    assert fields(problem) == {"body"}
    assert "not valid JSON" in problem["detail"]
    assert recorder.methods == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder, content_type: str | None
) -> None:
    response = client.post(
        "/v1/contacts",
        data=json.dumps(GOOD_CONTACT),
        headers={
            **bearer(keys.manager("sciences")),
            **({"Content-Type": content_type} if content_type else {}),
        },
    )
    assert_problem(response, 415)
    assert recorder.methods == []


def test_unknown_field_is_named(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder
) -> None:
    body = {**GOOD_CONTACT, "is_vip": True}
    problem = assert_problem(
        post_json(client, "/v1/contacts", keys.manager("sciences"), json.dumps(body)), 400
    )
    assert fields(problem) == {"is_vip"}
    assert recorder.methods == []


def test_mistyped_and_missing_fields_are_all_named(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder
) -> None:
    body = {"kind": "robot", "fields": {"email": 42, "Bad Field": "x", "phone": "a\x01"}}
    problem = assert_problem(
        post_json(client, "/v1/contacts", keys.manager("sciences"), json.dumps(body)), 400
    )
    assert fields(problem) == {"kind", "fields.email", "fields.Bad Field.[key]", "fields.phone"}
    assert recorder.methods == []


def test_strict_types_refuse_coercion(client: FlaskClient, keys: TestKeys) -> None:
    # "1" for a string field would be coerced by lax parsers; here it must be a string.
    body = {
        "channel": "email",
        "purpose": "news",
        "scope": "grouping",
        "source": 1,
        "text_shown": True,
    }
    problem = assert_problem(
        post_json(client, "/v1/contacts/c-1/consents", keys.manager("sciences"), json.dumps(body)),
        400,
    )
    assert fields(problem) == {"source", "text_shown"}


def test_error_messages_never_echo_the_values_sent(client: FlaskClient, keys: TestKeys) -> None:
    secret = "private-phone-0612345678"
    body = {"kind": secret, "fields": {"phone": 612345678}, "nickname": secret}
    response = post_json(client, "/v1/contacts", keys.manager("sciences"), json.dumps(body))
    problem = assert_problem(response, 400)
    assert fields(problem) == {"kind", "fields.phone", "nickname"}
    assert "612345678" not in response.get_data(as_text=True)


def test_a_body_that_is_not_an_object_is_400(client: FlaskClient, keys: TestKeys) -> None:
    problem = assert_problem(
        post_json(client, "/v1/contacts", keys.manager("sciences"), "[1]"), 400
    )
    assert fields(problem) == {"body"}


def test_audience_needs_exactly_one_kind(client: FlaskClient, keys: TestKeys) -> None:
    base = {"name": "n", "purpose": "p", "subject_template": "s", "body_template": "b"}
    for audience in (
        {},
        {"contact_ids": ["c-1"], "all_of_component": True},
        {"all_of_component": False},
    ):
        body = json.dumps({**base, "audience": audience})
        problem = assert_problem(
            post_json(client, "/v1/campaigns", keys.manager("sciences"), body), 400
        )
        assert fields(problem) <= {"audience", "audience.all_of_component"}, problem


def test_send_at_must_carry_an_offset(client: FlaskClient, keys: TestKeys) -> None:
    body = json.dumps({"send_at": "2025-09-01T08:00:00"})
    path = "/v1/campaigns/k-1/schedule"
    problem = assert_problem(post_json(client, path, keys.manager("sciences"), body), 400)
    assert fields(problem) == {"send_at"}


def test_send_accepts_no_body_but_refuses_options(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder
) -> None:
    path = "/v1/campaigns/k-1/send"
    problem = assert_problem(
        post_json(client, path, keys.manager("sciences"), '{"force": true}'), 400
    )
    assert fields(problem) == {"force"}
    assert recorder.methods == []
    # An empty body passes validation and reaches campaigns, unreachable here: 503.
    assert_problem(client.post(path, headers=bearer(keys.manager("sciences"))), 503)
    assert recorder.methods == ["/crm.campaigns.v1.CampaignsService/SendNow"]


@pytest.mark.parametrize(
    "query", ["page_size=ten", "page_size=-1", "page_size=99999999999", "color=red"]
)
def test_bad_query_strings_are_400(client: FlaskClient, keys: TestKeys, query: str) -> None:
    response = client.get(f"/v1/contacts?{query}", headers=bearer(keys.manager("sciences")))
    problem = assert_problem(response, 400)
    assert fields(problem) == {query.split("=")[0]}


def test_too_large_a_body_is_413(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder
) -> None:
    body = json.dumps({**GOOD_CONTACT, "fields": {"first_name": "x" * (2 * 1024 * 1024)}})
    assert_problem(post_json(client, "/v1/contacts", keys.manager("sciences"), body), 413)
    assert recorder.methods == []


def test_unknown_route_is_a_404_problem(client: FlaskClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)
    assert_problem(client.get("/"), 404)


def test_wrong_method_is_a_405_problem_with_allow(client: FlaskClient, keys: TestKeys) -> None:
    response = client.delete("/v1/contacts", headers=bearer(keys.manager("sciences")))
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert_problem(client.options("/v1/contacts"), 405)


def test_an_unexpected_error_is_a_generic_500_and_logged_without_its_message(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> str:
        email = "@".join(["ada", "example.org"])  # so the source line does not hold it
        raise RuntimeError(f"leaky detail: {email}")

    app.add_url_rule("/broken", view_func=broken)
    response = app.test_client().get("/broken")
    problem = assert_problem(response, 500)
    assert "ada@example.org" not in response.get_data(as_text=True)
    assert problem["detail"] == "an unexpected error occurred"
    assert "RuntimeError" in caplog.text
    assert "ada@example.org" not in caplog.text


def test_upstream_unreachable_is_a_503_problem_after_one_call(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder
) -> None:
    response = client.get("/v1/contacts/c-1", headers=bearer(keys.manager("sciences")))
    assert_problem(response, 503)
    assert recorder.methods == ["/crm.contacts.v1.ContactsService/GetContact"]


@pytest.mark.parametrize(
    ("send_at", "why"),
    [
        ("0001-01-01T00:00:00+14:00", "year"),
        ("9999-12-31T23:59:59-14:00", "year"),
        ("2001-01-01T00:00:00Z", "future"),
    ],
)
def test_a_send_time_out_of_range_or_past_is_400_before_upstream(
    client: FlaskClient, keys: TestKeys, recorder: CallRecorder, send_at: str, why: str
) -> None:
    body = json.dumps({"send_at": send_at})
    response = post_json(client, "/v1/campaigns/k-1/schedule", keys.manager("sciences"), body)
    problem = assert_problem(response, 400)
    assert fields(problem) == {"send_at"}
    assert why in problem["detail"]
    assert recorder.methods == []
