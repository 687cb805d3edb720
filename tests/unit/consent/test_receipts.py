"""Consent receipts validate against the vendored Kantara v1.1 schema and their JWS verifies."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.identity import generate_dev_keys
from services.consent.receipts import (
    Controller,
    InvalidReceipt,
    ReceiptInput,
    ReceiptSigner,
    build_receipt,
    verify_receipt,
)

STANDARDS = Path(__file__).resolve().parents[3] / "standards"
SCHEMA = json.loads((STANDARDS / "kantara-consent-receipt-v1.1.schema.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)
CONTROLLER = Controller(
    name="Université Paris-Exemple",
    contact="Délégué à la protection des données",
    email="dpo@example.org",
    phone="+33 1 23 45 67 89",
    address="1 place de l'Université, 75000 Paris",
    policy_url="https://example.org/privacy",
)
GRANT = ReceiptInput(
    event_id="3f2f8a7e-0000-4000-8000-000000000001",
    contact_id="0b7c1a52-9a0e-4e57-9b1c-6f0f1d9b2c11",
    purpose="newsletter",
    purpose_label="La lettre de la faculté",
    purpose_category="6 - Marketing",
    channel="email",
    service="sciences",
    on_behalf=True,
    legal_basis="consent",
    collection_method="web-form",
    notice="Je souhaite recevoir la lettre de la faculté.",
    language="fr",
    consented_at=datetime(2024, 10, 1, 9, 30, tzinfo=UTC),
)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> ReceiptSigner:
    folder = tmp_path_factory.mktemp("receipt-keys")
    generate_dev_keys(folder / "private.pem", folder / "public.pem")
    return ReceiptSigner(folder / "private.pem")


def test_the_vendored_example_validates_so_the_schema_is_the_real_one() -> None:
    example = json.loads((STANDARDS / "kantara-consent-receipt-v1.1.example.json").read_text())
    VALIDATOR.validate(example)


def test_a_receipt_validates_against_the_kantara_schema() -> None:
    receipt = build_receipt(GRANT, CONTROLLER)
    VALIDATOR.validate(receipt)
    assert receipt["jurisdiction"] == "FR"
    assert receipt["piiPrincipalId"] == GRANT.contact_id
    assert receipt["consentTimestamp"] == int(GRANT.consented_at.timestamp())
    (purpose,) = receipt["services"][0]["purposes"]
    assert purpose["notice"] == GRANT.notice and purpose["consentType"] == "EXPLICIT"


def test_the_schema_check_can_fail() -> None:
    receipt = build_receipt(GRANT, CONTROLLER)
    del receipt["piiControllers"][0]["email"]
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(receipt)


texts = st.text(max_size=80)


@given(
    texts, texts, texts, texts, st.booleans(), st.sampled_from(["consent", "legitimate_interest"])
)
def test_every_grant_yields_a_valid_receipt(
    label: str, method: str, notice: str, service: str, on_behalf: bool, basis: str
) -> None:
    grant = GRANT.__class__(
        **{
            **GRANT.__dict__,
            "purpose_label": label,
            "collection_method": method,
            "notice": notice,
            "service": service,
            "on_behalf": on_behalf,
            "legal_basis": basis,
        }
    )
    VALIDATOR.validate(build_receipt(grant, CONTROLLER))


def test_the_same_grant_always_yields_the_same_receipt_id() -> None:
    first = build_receipt(GRANT, CONTROLLER)["consentReceiptID"]
    assert build_receipt(GRANT, CONTROLLER)["consentReceiptID"] == first
    other = GRANT.__class__(**{**GRANT.__dict__, "event_id": "another"})
    assert build_receipt(other, CONTROLLER)["consentReceiptID"] != first


def test_a_signed_receipt_verifies_with_the_public_key_set(signer: ReceiptSigner) -> None:
    receipt = build_receipt(GRANT, CONTROLLER)
    signed = signer.sign(receipt)
    assert verify_receipt(signed.jws, signer.jwks()) == receipt
    assert json.loads(signed.receipt_json) == receipt
    assert signed.key_id == signer.jwks()["keys"][0]["kid"]


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_altered_receipt_does_not_verify(signer: ReceiptSigner) -> None:
    signed = signer.sign(build_receipt(GRANT, CONTROLLER))
    header, _, signature = _segments(signed.jws)
    altered = json.loads(signed.receipt_json)
    altered["piiPrincipalId"] = "someone-else"
    forged = ".".join([header, _b64(json.dumps(altered).encode()), signature])
    with pytest.raises(InvalidReceipt):
        verify_receipt(forged, signer.jwks())


def test_a_receipt_signed_by_another_key_does_not_verify(
    signer: ReceiptSigner, tmp_path: Path
) -> None:
    generate_dev_keys(tmp_path / "other.pem", tmp_path / "other-public.pem")
    other = ReceiptSigner(tmp_path / "other.pem")
    signed = other.sign(build_receipt(GRANT, CONTROLLER))
    with pytest.raises(InvalidReceipt):
        verify_receipt(signed.jws, signer.jwks())
    # Even when the forger claims the trusted key's id:
    header = json.loads(base64.urlsafe_b64decode(_segments(signed.jws)[0] + "=="))
    header["kid"] = signer.key_id
    _, payload, signature = _segments(signed.jws)
    relabelled = ".".join([_b64(json.dumps(header).encode()), payload, signature])
    with pytest.raises(InvalidReceipt):
        verify_receipt(relabelled, signer.jwks())


def test_a_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="crm keys"):
        ReceiptSigner(tmp_path / "absent.pem")
