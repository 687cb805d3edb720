"""Consent receipts: for staff (signed in), for the person (a signed link), and the keys that
verify them (public).

Consent decides who may read a receipt: the staff of the component that recorded
the grant, a `dpo` or a mesh service; anyone else gets the same 404 as for an
unknown id, so ids cannot be probed. The person's link (a RECEIPT person link,
whose ref is the grant's event id) is read with the gateway's own identity, and
only when the receipt names the link's contact: a link never opens another
person's receipt.
"""

from __future__ import annotations

from flask import Blueprint, Response

from meshkit.errors import NotFound
from meshkit.links import LinkKind, PersonLink
from protos.crm.consent.v1 import consent_pb2
from services.gateway import mapping, pages, person_links, responses
from services.gateway.api import ANY_ROLE, Access, Reply, Routes, json_response
from services.gateway.clients import upstream

JWK_SET = "application/jwk-set+json"

blueprint = Blueprint("receipts", __name__)
routes = Routes(blueprint, "consent receipts")


@routes.route(
    "GET",
    "/v1/consent/receipts/<event_id>",
    summary="The signed consent receipt of one grant (its recording component's staff, dpo).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    replies=(
        Reply(
            200,
            "The Kantara Consent Receipt v1.1, its JWS and key id. 404 for an unknown id and "
            "for a grant another component recorded (the same answer).",
            responses.ConsentReceipt,
        ),
    ),
)
def staff_receipt(event_id: str) -> responses.ConsentReceipt:
    """GET /v1/consent/receipts/<event id>."""
    reply = upstream().consent.GetReceipt(consent_pb2.GetReceiptRequest(event_id=event_id))
    return mapping.consent_receipt(reply)


@routes.route(
    "GET",
    "/consent/receipts/<token>",
    summary="The person's own consent receipt, from the signed link they were given.",
    access=Access.PUBLIC,
    replies=(
        Reply(
            200,
            "The receipt, its JWS and key id. 404 for a forged or altered link, 410 for an "
            "expired one.",
            responses.ConsentReceipt,
        ),
    ),
)
def person_receipt(token: str) -> Response:
    """GET /consent/receipts/<token>."""
    link = person_links.links().verify(LinkKind.RECEIPT, token)
    request = consent_pb2.GetReceiptRequest(event_id=link.ref)
    receipt = mapping.consent_receipt(upstream().consent_as_gateway.GetReceipt(request))
    if not names_linked_person(receipt, link):
        raise NotFound("unknown or altered link")  # the same answer as a forged link
    return pages.secured(json_response(receipt, 200))


def names_linked_person(receipt: responses.ConsentReceipt, link: PersonLink) -> bool:
    """True when the receipt's principal is the contact the link was made for."""
    return bool(link.contact_id) and receipt.receipt.get("piiPrincipalId") == link.contact_id


@routes.route(
    "GET",
    "/consent/receipt-keys",
    summary="The public keys (JWKS) that verify consent receipts.",
    access=Access.PUBLIC,
    replies=(Reply(200, "A JSON Web Key Set (RFC 7517).", responses.JsonWebKeySet, JWK_SET),),
)
def receipt_keys() -> Response:
    """GET /consent/receipt-keys."""
    reply = upstream().consent_as_gateway.GetReceiptKeys(consent_pb2.GetReceiptKeysRequest())
    keys = responses.JsonWebKeySet.model_validate_json(reply.jwks_json)
    return Response(keys.model_dump_json(), 200, mimetype=JWK_SET)
