"""Consent of one contact: REST in front of crm.consent.v1.ConsentService."""

from __future__ import annotations

from flask import Blueprint

from protos.crm.consent.v1 import consent_pb2
from services.gateway import mapping, responses, schemas
from services.gateway.api import ANY_ROLE, Access, Reply, Routes
from services.gateway.auth import principal
from services.gateway.clients import upstream

blueprint = Blueprint("consent", __name__)
routes = Routes(blueprint, "consent")


@routes.route(
    "POST",
    "/v1/contacts/<contact_id>/consents",
    summary="Record a consent, with the text shown and where it was collected.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    body=schemas.ConsentGrant,
    replies=(Reply(201, "The recorded event.", responses.ConsentEvent),),
)
def grant(contact_id: str, body: schemas.ConsentGrant) -> responses.ConsentEvent:
    """POST /v1/contacts/<id>/consents."""
    change = mapping.consent_grant(contact_id, body, principal().require_component())
    return mapping.consent_event(upstream().consent.Grant(change))


@routes.route(
    "POST",
    "/v1/contacts/<contact_id>/consents/withdraw",
    summary="Record a withdrawal of consent.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    body=schemas.ConsentWithdrawal,
    replies=(Reply(201, "The recorded event.", responses.ConsentEvent),),
)
def withdraw(contact_id: str, body: schemas.ConsentWithdrawal) -> responses.ConsentEvent:
    """POST /v1/contacts/<id>/consents/withdraw."""
    change = mapping.consent_withdrawal(contact_id, body, principal().require_component())
    return mapping.consent_event(upstream().consent.Withdraw(change))


@routes.route(
    "GET",
    "/v1/contacts/<contact_id>/consents",
    summary="The consent history of a contact, oldest first.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    replies=(Reply(200, "Every recorded event.", responses.ConsentHistory),),
)
def history(contact_id: str) -> responses.ConsentHistory:
    """GET /v1/contacts/<id>/consents."""
    reply = upstream().consent.GetHistory(consent_pb2.GetHistoryRequest(contact_id=contact_id))
    return responses.ConsentHistory(events=[mapping.consent_event(e) for e in reply.events])
