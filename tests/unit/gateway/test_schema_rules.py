"""The published schemas refuse what the services refuse, and accept what they accept.

For each string rule of a service (name length, component id, purpose,
templates...), sample values the service refuses are checked three ways: the
OpenAPI document's schema (jsonschema), the gateway's model (pydantic) and the
service's own validation all refuse them. Good values pass all three.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from meshkit.errors import InvalidArgument
from services.campaigns.policy import TemplateError, parse_template
from services.campaigns.validation import TEMPLATE_PATTERN, Audience, AudienceKind, Draft, validated
from services.consent.domain import Channel, EventKind, Scope
from services.consent.validation import ChangeRequest, valid_change
from services.contacts.validation import validate_component
from services.gateway import schemas

CAMPAIGN = {
    "name": "Rentrée",
    "purpose": "newsletter",
    "subject_template": "Bonjour {{ first_name }}",
    "body_template": "Texte {{ attr.promo }} { pas un champ }",
    "audience": {"contact_ids": ["c-1"]},
}
COMPONENT = {"id": "sciences", "name": "Faculté des sciences"}
GRANT = {
    "channel": "email",
    "purpose": "newsletter",
    "scope": "grouping",
    "source": "web-form",
    "text_shown": "Oui",
}


def campaigns_service(body: dict[str, Any]) -> None:
    audience = body["audience"]
    validated(
        Draft(
            body["name"],
            body["purpose"],
            body["subject_template"],
            body["body_template"],
            Audience(AudienceKind.CONTACT_IDS, tuple(audience["contact_ids"])),
        )
    )


def contacts_service(body: dict[str, Any]) -> None:
    validate_component(body["id"], body["name"])


def consent_service(body: dict[str, Any]) -> None:
    request = ChangeRequest(
        "5f0c2a4e-8b1d-4c3e-9a7f-0d6e1b2c3a4d", Channel(body["channel"]), body["purpose"],
        Scope.grouping(), None,
        body["source"], body["text_shown"],
    )  # fmt: skip
    valid_change(request, EventKind.GRANTED)


Check = Callable[[dict[str, Any]], None]
CASES: list[tuple[type[BaseModel], dict[str, Any], Check, str, list[Any]]] = [
    (schemas.NewCampaign, CAMPAIGN, campaigns_service, "name", ["", "   ", "x" * 201, "a\x00"]),
    (
        schemas.NewCampaign,
        CAMPAIGN,
        campaigns_service,
        "purpose",
        ["", "News", "a b", "a@b", "x" * 65, "lettre.info"],
    ),
    (
        schemas.NewCampaign,
        CAMPAIGN,
        campaigns_service,
        "subject_template",
        ["", " ", "x" * 301, "{{ salary }}", "Bonjour {{ first_name", "{{", "a\x00"],
    ),
    (
        schemas.NewCampaign,
        CAMPAIGN,
        campaigns_service,
        "body_template",
        ["", "\n\t", "x" * 100_001, "{{ attr.Promo }}", "{{}}"],
    ),
    (
        schemas.NewCampaign,
        CAMPAIGN,
        campaigns_service,
        "audience",
        [{"contact_ids": []}, {"contact_ids": [""]}, {"contact_ids": ["x" * 65]}],
    ),
    (
        schemas.NewComponent,
        COMPONENT,
        contacts_service,
        "id",
        ["", "a", "Sciences", "sci@nces", "sci nces", "é-cole", "x" * 41],
    ),
    (schemas.NewComponent, COMPONENT, contacts_service, "name", ["", "  ", "a\x01b", "x" * 201]),
    (schemas.ConsentGrant, GRANT, consent_service, "purpose", ["", "News", "x" * 65]),
    (schemas.ConsentGrant, GRANT, consent_service, "source", ["", " ", "x" * 101]),
    (schemas.ConsentGrant, GRANT, consent_service, "text_shown", ["", " \n", "x" * 5001]),
]


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/openapi.json").get_json()
    return body


def validator(document: dict[str, Any], model: type[BaseModel]) -> Draft202012Validator:
    reference = f"#/components/schemas/{model.__name__}"
    schema = {"$ref": reference, "components": document["components"]}
    return Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("model", "good", "service", "field", "bad_values"),
    CASES,
    ids=[f"{case[0].__name__}.{case[3]}" for case in CASES],
)
def test_what_the_service_refuses_the_document_and_the_gateway_refuse(
    document: dict[str, Any],
    model: type[BaseModel],
    good: dict[str, Any],
    service: Check,
    field: str,
    bad_values: list[Any],
) -> None:
    check = validator(document, model)
    service(good)
    assert check.is_valid(good)
    model.model_validate_json(json.dumps(good))
    for value in bad_values:
        body = {**good, field: value}
        with pytest.raises(InvalidArgument):
            service(body)
        assert not check.is_valid(body), (field, value)
        with pytest.raises(ValidationError) as refused:
            model.model_validate_json(json.dumps(body))
        assert {str(e["loc"][0]) for e in refused.value.errors()} == {field}, value


@pytest.mark.parametrize(
    ("model", "good", "service", "field", "good_values"),
    [
        (schemas.NewComponent, COMPONENT, contacts_service, "id", ["ab", "ufr-2", "x" * 40]),
        (schemas.NewCampaign, CAMPAIGN, campaigns_service, "purpose", ["a", "news_2025-b"]),
        (
            schemas.NewCampaign,
            CAMPAIGN,
            campaigns_service,
            "subject_template",
            ["{", "a { b", "}}", "{{first_name}}", "{{ attr.x_1 }} et {{ email }}", "x" * 300],
        ),
    ],
)
def test_what_the_service_accepts_the_document_accepts(
    document: dict[str, Any],
    model: type[BaseModel],
    good: dict[str, Any],
    service: Check,
    field: str,
    good_values: list[str],
) -> None:
    check = validator(document, model)
    for value in good_values:
        body = {**good, field: value}
        service(body)
        assert check.is_valid(body), value
        model.model_validate_json(json.dumps(body))


def test_the_document_says_what_a_send_time_must_be(document: dict[str, Any]) -> None:
    send_at = document["components"]["schemas"]["Schedule"]["properties"]["send_at"]
    assert send_at["format"] == "date-time"
    assert "future" in send_at["description"]
    assert "9999" in send_at["description"]


def test_path_variables_say_what_the_services_accept(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/campaigns/{campaign_id}"]["get"]
    (parameter,) = operation["parameters"]
    assert parameter["schema"]["maxLength"] == 64
    assert "400" in operation["responses"]


@given(st.text(alphabet=st.sampled_from("{} ab_.\t\n\x00") | st.characters(), max_size=40))
def test_a_template_the_pattern_accepts_parses(text: str) -> None:
    """The published template pattern is never looser than the campaigns parser."""
    if re.fullmatch(TEMPLATE_PATTERN.removeprefix("^").removesuffix("$"), text):
        parse_template(text)


@given(
    st.lists(
        st.sampled_from(
            ["{{ first_name }}", "{{attr.promo}}", "{{ salary }}", "{", "{{", "}}", "a", " "]
        ),
        max_size=8,
    ).map("".join)
)
def test_the_template_pattern_and_the_parser_agree_on_merge_fields(text: str) -> None:
    matched = re.fullmatch(TEMPLATE_PATTERN.removeprefix("^").removesuffix("$"), text)
    try:
        parse_template(text)
        parsed = True
    except TemplateError:
        parsed = False
    if matched:
        assert parsed, text
