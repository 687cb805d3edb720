"""Consent receipts through the gateway: staff of the recording component, the person's signed
link, and the public keys; each receipt validates against the vendored Kantara schema and its
JWS verifies with the keys the gateway serves."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from meshkit.links import LinkKind, PersonLinks
from services.consent.receipts import verify_receipt
from tests.integration.gateway.harness import UNSUBSCRIBE_SECRET, A, B, Gateway, problem

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[3]
        / "standards"
        / "kantara-consent-receipt-v1.1.schema.json"
    ).read_text()
)
GRANT = {
    "channel": "email",
    "purpose": "newsletter",
    "scope": "component",
    "source": "web-form",
    "text_shown": "Je souhaite recevoir la lettre de la faculté.",
}
LINKS = PersonLinks(UNSUBSCRIBE_SECRET)


def new_contact(gateway: Gateway, component: str, address: str | None = None) -> str:
    address = address or f"{uuid.uuid4().hex[:12]}@example.org"
    body = {"kind": "person", "fields": {"email": address}}
    reply = gateway.api.call("POST", "/v1/contacts", gateway.keys.manager(component), body)
    assert reply.status in (200, 201), reply.text  # 200: joined a contact another knows
    return str(reply.json["contact"]["id"])


@pytest.fixture
def granted(gateway: Gateway) -> tuple[str, str, str]:
    """A contact both components know, and A's grant: (contact id, address, grant event id)."""
    address = f"{uuid.uuid4().hex[:12]}@example.org"
    contact_id = new_contact(gateway, A, address)
    assert new_contact(gateway, B, address) == contact_id  # B joins the same record
    reply = gateway.api.call(
        "POST", f"/v1/contacts/{contact_id}/consents", gateway.keys.manager(A), GRANT
    )
    assert reply.status == 201, reply.text
    return contact_id, address, str(reply.json["id"])


def receipt_keys(gateway: Gateway) -> dict[str, Any]:
    reply = gateway.api.call("GET", "/consent/receipt-keys")
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"] == "application/jwk-set+json"
    keys: dict[str, Any] = reply.json
    assert keys["keys"] and all("d" not in key for key in keys["keys"])  # public halves only
    return keys


def assert_proven(gateway: Gateway, receipt: dict[str, Any], contact_id: str) -> None:
    """The receipt is a valid Kantara v1.1 document whose JWS verifies with the served keys."""
    jsonschema.Draft4Validator(SCHEMA).validate(receipt["receipt"])
    assert receipt["receipt"]["piiPrincipalId"] == contact_id
    assert receipt["receipt"]["consentReceiptID"] == receipt["receipt_id"]
    signed = verify_receipt(receipt["jws"], receipt_keys(gateway))
    assert signed == receipt["receipt"]
    assert receipt["key_id"] in {k["kid"] for k in receipt_keys(gateway)["keys"]}


def same_receipt(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """The same signed document by the same key (each ECDSA signature differs)."""
    return {**one, "jws": ""} == {**other, "jws": ""}


def test_the_recording_component_reads_a_receipt_that_validates_and_verifies(
    gateway: Gateway, granted: tuple[str, str, str]
) -> None:
    contact_id, address, event_id = granted
    reply = gateway.api.call("GET", f"/v1/consent/receipts/{event_id}", gateway.keys.manager(A))
    assert reply.status == 200, reply.text
    receipt = reply.json
    assert_proven(gateway, receipt, contact_id)
    purpose = receipt["receipt"]["services"][0]["purposes"][0]
    assert purpose["notice"] == GRANT["text_shown"] and purpose["channel"] == "email"
    assert address not in reply.text  # a receipt names the person by an opaque id only
    # A dpo of the grouping reads it too: the same document (ECDSA signs it anew each time).
    dpo = gateway.keys.issuer.mint("dpo@grouping", roles=["dpo"])
    again = gateway.api.call("GET", f"/v1/consent/receipts/{event_id}", dpo)
    assert again.status == 200, again.text
    assert same_receipt(again.json, receipt)


def test_another_component_or_an_unknown_id_gets_the_same_404(
    gateway: Gateway, granted: tuple[str, str, str]
) -> None:
    _, _, event_id = granted
    # B is a member of the contact, but A recorded the grant: B may not even learn it exists.
    foreign = problem(
        gateway.api.call("GET", f"/v1/consent/receipts/{event_id}", gateway.keys.manager(B)), 404
    )
    unknown = problem(
        gateway.api.call("GET", f"/v1/consent/receipts/{uuid.uuid4()}", gateway.keys.manager(B)),
        404,
    )
    assert foreign == unknown
    problem(gateway.api.call("GET", f"/v1/consent/receipts/{event_id}"), 401)


def test_the_person_reads_their_receipt_from_the_signed_link(
    gateway: Gateway, granted: tuple[str, str, str]
) -> None:
    contact_id, _, event_id = granted
    link = LINKS.sign(LinkKind.RECEIPT, contact_id, event_id)
    reply = gateway.api.call("GET", f"/consent/receipts/{link}")
    assert reply.status == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"  # the token is in the URL
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert_proven(gateway, reply.json, contact_id)
    staff = gateway.api.call("GET", f"/v1/consent/receipts/{event_id}", gateway.keys.manager(A))
    assert same_receipt(reply.json, staff.json)


def test_a_forged_altered_foreign_or_expired_link_opens_nothing(
    gateway: Gateway, granted: tuple[str, str, str]
) -> None:
    contact_id, _, event_id = granted
    forged = PersonLinks("not-the-mesh-secret").sign(LinkKind.RECEIPT, contact_id, event_id)
    problem(gateway.api.call("GET", f"/consent/receipts/{forged}"), 404)
    genuine = LINKS.sign(LinkKind.RECEIPT, contact_id, event_id)
    altered = genuine[:-2] + ("A" if genuine[-2] != "A" else "B") + genuine[-1]
    problem(gateway.api.call("GET", f"/consent/receipts/{altered}"), 404)
    # A link of another kind, even genuine, is not a receipt link.
    preferences = LINKS.sign(LinkKind.PREFERENCES, contact_id, event_id)
    problem(gateway.api.call("GET", f"/consent/receipts/{preferences}"), 404)
    # A genuine link for someone else naming this grant: the receipt is not theirs.
    other = new_contact(gateway, A)
    problem(
        gateway.api.call(
            "GET", f"/consent/receipts/{LINKS.sign(LinkKind.RECEIPT, other, event_id)}"
        ),
        404,
    )
    problem(
        gateway.api.call(
            "GET",
            f"/consent/receipts/{LINKS.sign(LinkKind.RECEIPT, contact_id, str(uuid.uuid4()))}",
        ),
        404,
    )
    # Signed more than its lifetime ago: 410, the person asks for a new one.
    past = datetime.now(UTC) - timedelta(days=400)
    old = PersonLinks(UNSUBSCRIBE_SECRET, clock=lambda: past).sign(
        LinkKind.RECEIPT, contact_id, event_id
    )
    problem(gateway.api.call("GET", f"/consent/receipts/{old}"), 410)
