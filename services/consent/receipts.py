"""Consent receipts: a Kantara Consent Receipt v1.1 per grant, signed as a compact JWS.

`build_receipt` is a pure function of a `ReceiptInput` (what the grant recorded,
in the receipt's own words) and the `Controller` (the grouping, from settings),
so that any shape of consent event can be mapped onto it. The same grant always
yields the same receipt: its id is derived from the event id, and the document
is serialised canonically (sorted keys, no spaces) before it is signed.

Signing uses its own EC P-256 key (ES256), not the key that signs the mesh's
tokens: a receipt must never pass for a token, nor a token for a receipt.
Anyone holding the public key set (`jwks`) can check a receipt with
`verify_receipt`; one altered byte makes it fail.

Beyond the specification's fields, each purpose carries `channel` and `notice`
(the wording or the reference of the notice the person saw): the schema leaves
room for them, and they are what makes the receipt a proof.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm

from meshkit.identity import key_id
from meshkit.jwks import public_jwk

VERSION = "KI-CR-v1.1.0"
JURISDICTION = "FR"
ALGORITHM = "ES256"
# Receipt ids are UUIDv5 of the event id in this namespace: one receipt per grant.
RECEIPT_NAMESPACE = uuid.UUID("6f1c2b9e-3f0e-4c5a-9d43-5b0c1f7e2a10")
PII_CATEGORIES = ["2 - Contact"]  # an address or a number to reach the person, nothing else
CONSENT_TYPES = {"consent": "EXPLICIT", "legitimate_interest": "N/A"}
TERMINATION = (
    "Until withdrawn or objected to (as easily as it was given), or 36 months after the "
    "last positive interaction"
)


@dataclass(frozen=True)
class Controller:
    """The data controller the receipt names: the grouping, as settings describe it."""

    name: str
    contact: str
    email: str
    phone: str
    address: str
    policy_url: str


@dataclass(frozen=True)
class ReceiptInput:
    """One grant, in the receipt's words: the lead maps each event shape onto this."""

    event_id: str
    contact_id: str  # the piiPrincipalId: an opaque id, never a name or an address
    purpose: str  # catalogue id, e.g. "newsletter"
    purpose_label: str  # what the person read, e.g. "La lettre de la faculté"
    purpose_category: str  # a Kantara purpose category, e.g. "6 - Marketing"
    channel: str  # email, sms, phone, post
    service: str  # who the consent is for: a component's name, or the grouping's
    on_behalf: bool  # collected by a component on behalf of the grouping's controller
    legal_basis: str  # consent or legitimate_interest
    collection_method: str  # how: web form, import, one-click, agent on the phone...
    notice: str  # the wording shown, or the reference of the notice version
    language: str  # of the notice, e.g. "fr"
    consented_at: datetime


@dataclass(frozen=True)
class SignedReceipt:
    """A receipt, the exact JSON that was signed, its JWS and the id of the signing key."""

    receipt_id: str
    receipt_json: str
    jws: str
    key_id: str


@dataclass(frozen=True)
class Receipts:
    """What issuing receipts needs: the signing key and the controller they name."""

    signer: ReceiptSigner
    controller: Controller


class InvalidReceipt(Exception):
    """The JWS does not verify with any of the given keys, or is not a receipt."""


def receipt_id(event_id: str) -> str:
    """The receipt id of a grant: the same for every copy of its receipt."""
    return str(uuid.uuid5(RECEIPT_NAMESPACE, event_id))


def build_receipt(grant: ReceiptInput, controller: Controller) -> dict[str, Any]:
    """The Kantara Consent Receipt v1.1 document of one grant."""
    address: dict[str, str] = {"addressCountry": JURISDICTION}
    if controller.address:
        address["streetAddress"] = controller.address
    return {
        "version": VERSION,
        "jurisdiction": JURISDICTION,
        "consentTimestamp": int(grant.consented_at.timestamp()),
        "collectionMethod": grant.collection_method,
        "consentReceiptID": receipt_id(grant.event_id),
        "language": grant.language,
        "piiPrincipalId": grant.contact_id,
        "piiControllers": [
            {
                "piiController": controller.name,
                "onBehalf": grant.on_behalf,
                "contact": controller.contact,
                "address": address,
                "email": controller.email,
                "phone": controller.phone,
                "piiControllerUrl": controller.policy_url,
            }
        ],
        "policyUrl": controller.policy_url,
        "services": [
            {
                "service": grant.service,
                "purposes": [
                    {
                        "purpose": grant.purpose_label or grant.purpose,
                        "purposeCategory": [grant.purpose_category],
                        "consentType": CONSENT_TYPES.get(grant.legal_basis, "EXPLICIT"),
                        "piiCategory": list(PII_CATEGORIES),
                        "primaryPurpose": True,
                        "termination": TERMINATION,
                        "thirdPartyDisclosure": False,
                        "channel": grant.channel,
                        "notice": grant.notice,
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
    }


def canonical_json(document: Mapping[str, Any]) -> str:
    """The one serialisation that is signed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ReceiptSigner:
    """Signs receipts with the consent service's receipt key; publishes its public half."""

    def __init__(self, private_key_file: Path):
        try:
            self._key: Any = serialization.load_pem_private_key(private_key_file.read_bytes(), None)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"the receipt signing key {private_key_file} cannot be read ({error}); "
                "`crm keys` makes a development one, production mounts its own"
            ) from None
        self.key_id = key_id(self._key.public_key())

    def sign(self, document: Mapping[str, Any]) -> SignedReceipt:
        """The document as canonical JSON and as a compact JWS of those very bytes."""
        payload = canonical_json(document)
        token = jwt.api_jws.encode(
            payload.encode(),
            self._key,
            algorithm=ALGORITHM,
            headers={"kid": self.key_id, "typ": "JWT"},
        )
        return SignedReceipt(str(document["consentReceiptID"]), payload, token, self.key_id)

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set that verifies this signer's receipts."""
        return jwks([self._key.public_key()])


def jwks(public_keys: Iterable[Any]) -> dict[str, Any]:
    """A JWKS of EC public keys, each with its `kid`, for ES256 signatures."""
    return {"keys": [public_jwk(key, key_id(key)) for key in public_keys]}


def verify_receipt(token: str, key_set: Mapping[str, Any]) -> dict[str, Any]:
    """The receipt a compact JWS carries, once its signature verifies with a key of the set."""
    try:
        kid = jwt.api_jws.get_unverified_header(token).get("kid")
        candidates = [k for k in key_set.get("keys", []) if k.get("kid") == kid]
        if not candidates:
            raise InvalidReceipt("no key of the set has this receipt's key id")
        public_key = ECAlgorithm.from_jwk(json.dumps(candidates[0]))
        payload = jwt.api_jws.decode(token, public_key, algorithms=[ALGORITHM])  # type: ignore[arg-type]
        document = json.loads(payload)
    except (jwt.PyJWTError, ValueError) as error:
        raise InvalidReceipt(f"the receipt does not verify: {type(error).__name__}") from None
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise InvalidReceipt("the signed document is not a consent receipt")
    return document
