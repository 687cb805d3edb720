"""Suppress, FilterSuppressed and GetReceipt against a real consent process on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import jsonschema
import pytest
from sqlalchemy import text

from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent.receipts import InvalidReceipt, verify_receipt
from tests.integration.consent.harness import (
    OWNER,
    TIMEOUT,
    RunningConsent,
    change,
    component,
    grant,
    withdraw,
)

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[3] / "standards/kantara-consent-receipt-v1.1.schema.json"
    ).read_text()
)


def _call(consent: RunningConsent, method: str, request: object, token: str) -> object:
    return getattr(consent.stub, method)(request, metadata=consent.auth(token), timeout=TIMEOUT)


def _suppress(consent: RunningConsent, token: str, *addresses: str) -> int:
    request = pb.SuppressRequest(addresses=addresses, reason=pb.SUPPRESSION_REASON_OBJECTED)
    reply = _call(consent, "Suppress", request, token)
    return int(reply.added)  # type: ignore[attr-defined]


def _filter(consent: RunningConsent, *addresses: str) -> list[int]:
    request = pb.FilterSuppressedRequest(addresses=addresses)
    reply = _call(consent, "FilterSuppressed", request, consent.keys.service("contacts"))
    return list(reply.suppressed_indexes)  # type: ignore[attr-defined]


def _table(consent: RunningConsent) -> list[tuple[str, str]]:
    with consent.database.connect() as connection:
        rows = connection.execute(text("SELECT hash, reason FROM consent_suppressions"))
        return [(str(h), str(r)) for h, r in rows]


def _dpo(consent: RunningConsent) -> str:
    return consent.keys.issuer.mint("dpo@grouping", roles=["dpo"])


def test_a_suppressed_address_is_found_in_any_spelling_and_stored_only_as_a_hash(
    consent: RunningConsent,
) -> None:
    assert _suppress(consent, _dpo(consent), "Lea.Martin@Example.ORG") == 1
    found = _filter(
        consent, "other@example.org", "  lea.martin@example.org ", "LEA.MARTIN@example.org"
    )
    assert found == [1, 2]
    stored = _table(consent)
    assert all("lea" not in h and "example" not in h for h, _ in stored)
    assert ("objected" in {r for _, r in stored}) and all(len(h) == 64 for h, _ in stored)
    # Listing it again adds nothing (the first reason stays).
    assert _suppress(consent, consent.keys.service("contacts"), "lea.martin@example.org") == 0


def test_ten_thousand_addresses_are_checked_in_one_call(consent: RunningConsent) -> None:
    _suppress(consent, _dpo(consent), "bulk-4321@example.org")
    addresses = [f"bulk-{i}@example.org" for i in range(10_000)]
    assert _filter(consent, *addresses) == [4321]


def test_bad_input_and_missing_roles_are_refused_and_change_nothing(
    consent: RunningConsent,
) -> None:
    before = _table(consent)
    staff = consent.keys.manager(OWNER)
    with pytest.raises(grpc.RpcError) as denied:
        _suppress(consent, staff, "x@example.org")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as denied:
        _call(consent, "FilterSuppressed", pb.FilterSuppressedRequest(addresses=["a@b.fr"]), staff)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    request = pb.SuppressRequest(
        addresses=["ok@example.org", "not an address"], reason=pb.SUPPRESSION_REASON_MANUAL
    )
    with pytest.raises(grpc.RpcError) as bad:
        _call(consent, "Suppress", request, _dpo(consent))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "addresses[1]" in bad.value.details() and "not an address" not in bad.value.details()
    with pytest.raises(grpc.RpcError) as bad:
        _call(consent, "Suppress", pb.SuppressRequest(addresses=["ok@example.org"]), _dpo(consent))
    assert "reason" in bad.value.details()
    with pytest.raises(grpc.RpcError) as bad:
        _filter(consent, *[f"{i}@example.org" for i in range(10_001)])
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _table(consent) == before


def _receipt(consent: RunningConsent, token: str, event_id: str) -> pb.ConsentReceipt:
    reply = _call(consent, "GetReceipt", pb.GetReceiptRequest(event_id=event_id), token)
    assert isinstance(reply, pb.ConsentReceipt)
    return reply


def _keys(consent: RunningConsent) -> dict[str, object]:
    reply = _call(consent, "GetReceiptKeys", pb.GetReceiptKeysRequest(), consent.keys.admin())
    return json.loads(reply.jwks_json)  # type: ignore[attr-defined,no-any-return]


def test_a_grant_has_a_signed_receipt_that_validates_and_verifies(
    consent: RunningConsent,
) -> None:
    contact_id = consent.new_contact()
    staff = consent.keys.manager(OWNER)
    event = grant(consent, staff, change(contact_id, component(OWNER)))
    receipt = _receipt(consent, staff, event.id)
    document = verify_receipt(receipt.jws, _keys(consent))
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    assert document == json.loads(receipt.receipt_json)
    assert document["piiPrincipalId"] == contact_id
    assert document["consentReceiptID"] == receipt.receipt_id
    notice = document["services"][0]["purposes"][0]["notice"]
    assert notice == "I agree to receive the newsletter."
    # The dpo and the mesh's services read it too; the same grant gives the same receipt.
    assert _receipt(consent, _dpo(consent), event.id).receipt_json == receipt.receipt_json
    head, payload, signature = receipt.jws.split(".")
    with pytest.raises(InvalidReceipt):
        verify_receipt(".".join([head, payload[:-4] + "AAAA", signature]), _keys(consent))


def test_another_component_a_withdrawal_or_an_unknown_id_get_no_receipt(
    consent: RunningConsent,
) -> None:
    contact_id = consent.new_contact()
    staff = consent.keys.manager(OWNER)
    event = grant(consent, staff, change(contact_id, component(OWNER)))
    for token, event_id in (
        (consent.keys.manager("sciences"), event.id),
        (staff, "00000000-0000-4000-8000-000000000000"),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            _receipt(consent, token, event_id)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    withdrawal = withdraw(consent, staff, change(contact_id, component(OWNER)))
    with pytest.raises(grpc.RpcError) as refused:
        _receipt(consent, staff, withdrawal.id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
