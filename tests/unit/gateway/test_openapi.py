"""/openapi.json matches the routes Flask serves, and its schemas accept what the views accept."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import BaseModel, ValidationError

from services.gateway import openapi, schemas
from services.gateway.app import AREAS
from tests.support.tokens import TestKeys

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # HEAD is answered by Flask for every GET


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def served(app: Flask) -> set[tuple[str, str]]:
    """(path, method) of every API rule of the app, in OpenAPI's path syntax.

    The web console's pages (/console/...) are HTML for people, not API operations.
    """
    pairs = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/console"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        pairs |= {(path, m) for m in (rule.methods or set()) - IGNORED_METHODS}
    return pairs


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p, m.upper()) for p, item in document["paths"].items() for m in item}


def test_document_and_url_map_match_both_ways(app: Flask, document: dict[str, Any]) -> None:
    assert served(app) - documented(document) == set(), "served but not documented"
    assert documented(document) - served(app) == set(), "documented but not served"


def test_every_brief_route_is_there(document: dict[str, Any]) -> None:
    expected = {
        ("/healthz", "GET"),
        ("/openapi.json", "GET"),
        ("/v1/components", "POST"),
        ("/v1/components", "GET"),
        ("/v1/contacts", "POST"),
        ("/v1/contacts", "GET"),
        ("/v1/contacts/{contact_id}", "GET"),
        ("/v1/contacts/{contact_id}", "PATCH"),
        ("/v1/contacts/{contact_id}", "DELETE"),
        ("/v1/contacts/{contact_id}/membership", "DELETE"),
        ("/v1/components/{component_id}/services", "POST"),
        ("/v1/organisation/levels", "PUT"),
        ("/v1/people/{subject}", "PUT"),
        ("/v1/people/{subject}", "DELETE"),
        ("/v1/organisation", "GET"),
        ("/v1/catalogue", "GET"),
        ("/v1/components/{component_id}/attributes/{key}", "PUT"),
        ("/v1/field-policies/{field}", "PUT"),
        ("/v1/field-policies", "GET"),
        ("/v1/field-policies/changes", "GET"),
        ("/v1/indicators", "GET"),
        ("/v1/indicators/dimensions", "GET"),
        ("/v1/indicators/dimensions/{dimension_id}", "PUT"),
        ("/v1/indicators/dimensions/{dimension_id}", "DELETE"),
        ("/v1/indicators/disclosure-rules", "GET"),
        ("/v1/indicators/disclosure-rules", "PUT"),
        ("/v1/contacts/imports", "POST"),
        ("/v1/contacts/imports/{import_id}", "GET"),
        ("/v1/contacts/{contact_id}/consents", "POST"),
        ("/v1/contacts/{contact_id}/consents", "GET"),
        ("/v1/contacts/{contact_id}/consents/withdraw", "POST"),
        ("/v1/contacts/{contact_id}/consents/deny", "POST"),
        ("/v1/contacts/{contact_id}/objections", "POST"),
        ("/v1/contacts/{contact_id}/consent", "GET"),
        ("/v1/consent/purposes", "GET"),
        ("/v1/consent/purposes", "POST"),
        ("/v1/consent/purposes/{key}", "PATCH"),
        ("/v1/consent/purposes/{key}/notices", "GET"),
        ("/v1/consent/purposes/{key}/notices", "POST"),
        ("/v1/consent/basis-rules", "GET"),
        ("/v1/consent/basis-rules", "PUT"),
        ("/v1/campaigns", "POST"),
        ("/v1/campaigns", "GET"),
        ("/v1/campaigns/{campaign_id}", "GET"),
        ("/v1/campaigns/{campaign_id}/schedule", "POST"),
        ("/v1/campaigns/{campaign_id}/send", "POST"),
        ("/v1/campaigns/{campaign_id}/deliveries", "GET"),
        ("/v1/campaigns/{campaign_id}/preview", "GET"),
        ("/v1/campaigns/{campaign_id}/reach", "GET"),
        ("/v1/pressure-policy", "GET"),
        ("/v1/pressure-policy", "PUT"),
        ("/v1/pressure-policy/versions", "GET"),
        ("/v1/pressure/dashboard", "GET"),
        ("/v1/campaigns/{campaign_id}", "PATCH"),
        ("/v1/campaigns/{campaign_id}/unschedule", "POST"),
        ("/v1/campaigns/{campaign_id}/pause", "POST"),
        ("/v1/campaigns/{campaign_id}/resume", "POST"),
        ("/v1/campaigns/{campaign_id}/cancel", "POST"),
        ("/v1/campaigns/{campaign_id}/test-send", "POST"),
        ("/unsubscribe/{token}", "GET"),
        ("/unsubscribe/{token}", "POST"),
        ("/consent/confirm/{token}", "GET"),
        ("/consent/confirm/{token}", "POST"),
        ("/consent/revalidate/{token}", "GET"),
        ("/consent/revalidate/{token}", "POST"),
        ("/preferences/{token}", "GET"),
        ("/preferences/{token}", "POST"),
        ("/preferences/{token}/objection", "POST"),
        ("/v1/contacts/{contact_id}/merge", "POST"),
        ("/v1/audit/sensitive-reads", "GET"),
        ("/v1/contacts/{contact_id}/export", "GET"),
        ("/v1/contacts/{contact_id}/rectify", "POST"),
        ("/v1/contacts/{contact_id}/personal-data", "DELETE"),
        ("/v1/privacy-requests", "POST"),
        ("/v1/privacy-requests", "GET"),
        ("/v1/privacy-requests/{request_id}", "GET"),
        ("/v1/privacy-requests/{request_id}/export", "GET"),
        ("/v1/consent/receipts/{event_id}", "GET"),
        ("/consent/receipts/{token}", "GET"),
        ("/consent/receipt-keys", "GET"),
        ("/v1/contacts/{contact_id}/interactions", "GET"),
        ("/v1/contacts/{contact_id}/interactions", "POST"),
    }
    assert documented(document) == expected


def test_document_structure(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for path, item in document["paths"].items():
        for name in re.findall(r"{([^}]+)}", path):
            for operation in item.values():
                declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
                assert name in declared, (path, name)
        for method, operation in item.items():
            assert method in {"get", "post", "put", "delete", "patch"}
            assert operation["responses"], (path, method)
            assert operation["security"] == [] or path.startswith("/v1/"), (path, method)
            if path.startswith("/v1/"):
                assert operation["security"] == [{"bearerAuth": []}], (path, method)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
        node: Any = document
        assert ref.startswith("#/")
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def request_models(document: dict[str, Any]) -> dict[str, str]:
    """Schema name of every request body, by the media type it is sent as."""
    found = {}
    for item in document["paths"].values():
        for operation in item.values():
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                if "$ref" in content["schema"]:  # an uploaded file is described inline
                    found[content["schema"]["$ref"].rsplit("/", 1)[1]] = media
    return found


def validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema)


def test_examples_validate_against_the_published_schemas(document: dict[str, Any]) -> None:
    names = request_models(document)
    assert len(names) >= 9
    for name in names:
        examples = document["components"]["schemas"][name].get("examples")
        assert examples, f"{name} has no example"
        for example in examples:
            errors = list(validator(document, name).iter_errors(example))
            assert errors == [], (name, example, [e.message for e in errors])


@pytest.mark.parametrize(
    "model",
    [
        schemas.NewComponent,
        schemas.NewContact,
        schemas.ContactPatch,
        schemas.ConsentGrant,
        schemas.ConsentWithdrawal,
        schemas.NewCampaign,
        schemas.Schedule,
        schemas.SendNow,
    ],
)
def test_schema_and_model_agree_on_examples_and_on_unknown_fields(
    document: dict[str, Any], model: type[BaseModel]
) -> None:
    check = validator(document, model.__name__)
    for example in document["components"]["schemas"][model.__name__]["examples"]:
        model.model_validate_json(json.dumps(example))  # the view accepts it
        polluted = {**example, "unexpected": 1}
        assert not check.is_valid(polluted)
        with pytest.raises(ValidationError):
            model.model_validate_json(json.dumps(polluted))


@pytest.mark.parametrize("missing", [("source",), ("notice_id",)])
def test_schema_and_model_agree_on_a_missing_required_field(
    document: dict[str, Any], missing: tuple[str, ...]
) -> None:
    example = document["components"]["schemas"]["ConsentGrant"]["examples"][0]
    incomplete = {k: v for k, v in example.items() if k not in missing}
    assert not validator(document, "ConsentGrant").is_valid(incomplete)
    with pytest.raises(ValidationError):
        schemas.ConsentGrant.model_validate_json(json.dumps(incomplete))
    # The legacy proof (the text shown) stands in for the notice.
    if missing == ("notice_id",):
        legacy = {**incomplete, "text_shown": "I agree."}
        assert validator(document, "ConsentGrant").is_valid(legacy)
        schemas.ConsentGrant.model_validate_json(json.dumps(legacy))


def test_problem_schema_describes_the_problems_served(
    client: FlaskClient, keys: TestKeys, document: dict[str, Any]
) -> None:
    check = validator(document, "Problem")
    manager = {"Authorization": f"Bearer {keys.manager('sciences')}"}
    for response in (
        client.get("/v1/nowhere"),
        client.get("/v1/contacts"),
        client.post("/v1/contacts", json={"kind": 1, "x": 2}, headers=manager),
    ):
        assert check.is_valid(response.get_json(force=True)), response.get_data(as_text=True)


def test_the_document_is_served_as_built(app: Flask, client: FlaskClient) -> None:
    operations = [op for area in AREAS for op in area.routes.operations]
    assert client.get("/openapi.json").get_json() == openapi.document(operations)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """Checked against the OpenAPI 3.1 meta-schema, as client generators would read it."""
    validate(document)


def _operations_of(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, item in document["paths"].items() for m, op in item.items()]


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    """Success and problem answers each show an example, and it is valid."""
    checked = 0
    for path, method, operation in _operations_of(document):
        for status, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                if "$ref" not in content["schema"]:
                    continue
                assert "example" in content, (path, method, status, media)
                name = content["schema"]["$ref"].rsplit("/", 1)[1]
                errors = list(validator(document, name).iter_errors(content["example"]))
                assert errors == [], (path, method, status, [e.message for e in errors])
                checked += 1
    assert checked > 500


def test_every_status_an_operation_can_answer_is_documented(document: dict[str, Any]) -> None:
    for path, method, operation in _operations_of(document):
        documented_statuses = set(operation["responses"])
        public = operation["security"] == []
        expected = {"431", "default"}
        if not public:
            expected |= {"401", "403", "429"}
        if "requestBody" in operation:
            expected |= {"400", "413", "415"}
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add("404")
        if any(p["name"] == "If-Match" for p in operation.get("parameters", [])):
            expected |= {"412", "428"}
        if not public and method != "get":
            expected.add("409")
        assert expected <= documented_statuses, (path, method, expected - documented_statuses)


def test_idempotency_key_is_documented_on_every_post_taking_a_token(
    document: dict[str, Any],
) -> None:
    with_key = set()
    for path, method, operation in _operations_of(document):
        names = {p["name"] for p in operation.get("parameters", [])}
        if "Idempotency-Key" not in names:
            continue
        with_key.add((path, method.upper()))
        responses = operation["responses"]
        assert {"409", "422"} <= set(responses), (path, method)
        success = [s for s in responses if s.startswith("2")]
        assert all("Idempotency-Replayed" in responses[s]["headers"] for s in success)
    posts = {
        (p, m.upper())
        for p, m, op in _operations_of(document)
        if m == "post" and op["security"] != []
    }
    # A contact import resumes by its import_id instead (the file is not kept to compare).
    assert with_key == posts - {("/v1/contacts/imports", "POST")}


def test_rate_limit_headers_are_documented_on_limited_operations(
    document: dict[str, Any],
) -> None:
    for path, method, operation in _operations_of(document):
        responses = operation["responses"]
        if "429" not in responses:  # health, the document, the pages that call no service
            assert operation["security"] == [], (path, method)
            assert all("RateLimit" not in r.get("headers", {}) for r in responses.values())
            continue
        assert "Retry-After" in responses["429"]["headers"], (path, method)
        for status, response in responses.items():
            assert {"RateLimit", "RateLimit-Policy"} <= set(response["headers"]), (path, status)
    assert "429" in document["paths"]["/unsubscribe/{token}"]["post"]["responses"]
    assert "429" not in document["paths"]["/healthz"]["get"]["responses"]


def test_the_request_id_and_the_next_page_link_are_documented(
    app: Flask, client: FlaskClient, document: dict[str, Any]
) -> None:
    """Every answer carries X-Request-Id; a list's 200 documents the Link to its next page."""
    schemas = document["components"]["schemas"]
    lists = 0
    for path, method, operation in _operations_of(document):
        for status, response in operation["responses"].items():
            assert "X-Request-Id" in response.get("headers", {}), (path, method, status)
        schema = operation["responses"].get("200", {}).get("content", {})
        schema = schema.get("application/json", {}).get("schema", {})
        name = schema.get("$ref", "/").rsplit("/", 1)[1]
        paged = "next_page_token" in schemas.get(name, {}).get("properties", {})
        documented = "Link" in operation["responses"].get("200", {}).get("headers", {})
        assert documented == paged, (path, method)
        lists += paged
    assert lists >= 10  # contacts, campaigns, consent, components, ... all lists
    answer = client.get("/healthz", headers={"X-Request-Id": "probe-42"})
    assert answer.headers["X-Request-Id"] == "probe-42"


def test_outcome_codes_are_enums(document: dict[str, Any]) -> None:
    from services.campaigns.policy import Outcome
    from services.contacts.imports import Outcome as RowOutcome

    schemas_ = document["components"]["schemas"]
    assert schemas_["Outcome"]["enum"] == [o.value for o in Outcome]
    for model in ("Delivery", "PreviewRecipient", "TestSendResult"):
        assert schemas_[model]["properties"]["outcome"] == {
            "$ref": "#/components/schemas/Outcome",
            "description": schemas_[model]["properties"]["outcome"]["description"],
        }
    counts = schemas_["Campaign"]["properties"]["outcome_counts"]
    assert counts["propertyNames"] == {"$ref": "#/components/schemas/Outcome"}
    rows = schemas_["ImportRowReport"]["properties"]["outcome"]
    assert (
        rows["enum"]
        == [o.value for o in RowOutcome]
        == ["created", "joined", "updated", "unchanged", "rejected"]
    )
