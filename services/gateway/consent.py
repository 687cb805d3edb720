"""Consent of one contact: REST in front of crm.consent.v1.ConsentService."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, Response

from meshkit.roles import Role
from protos.crm.consent.v1 import consent_pb2
from services.gateway import mapping, paging, responses, schemas
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
    query=schemas.Page,
    replies=(Reply(200, "One page of the recorded events.", responses.ConsentHistory),),
)
def history(contact_id: str, query: schemas.Page) -> Response:
    """GET /v1/contacts/<id>/consents."""
    reply = upstream().consent.GetHistory(
        consent_pb2.GetHistoryRequest(
            contact_id=contact_id, page_size=query.page_size, page_token=query.page_token
        )
    )
    listed = responses.ConsentHistory(
        events=[mapping.consent_event(e) for e in reply.events],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "POST",
    "/v1/contacts/<contact_id>/consents/deny",
    summary="Record that the person refused when asked.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    body=schemas.ConsentDenial,
    replies=(Reply(201, "The recorded event.", responses.ConsentEvent),),
)
def deny(contact_id: str, body: schemas.ConsentDenial) -> responses.ConsentEvent:
    """POST /v1/contacts/<id>/consents/deny."""
    change = mapping.consent_denial(contact_id, body, principal().require_component())
    return mapping.consent_event(upstream().consent.Deny(change))


@routes.route(
    "POST",
    "/v1/contacts/<contact_id>/objections",
    summary="Record an Art. 21 objection: no marketing from any component (staff: dpo role).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    body=schemas.ConsentObjection,
    replies=(
        Reply(201, "The objection (the standing one when repeated).", responses.ConsentEvent),
    ),
)
def object_(contact_id: str, body: schemas.ConsentObjection) -> responses.ConsentEvent:
    """POST /v1/contacts/<id>/objections."""
    request = mapping.consent_objection(contact_id, body)
    return mapping.consent_event(upstream().consent.Object(request))


@routes.route(
    "GET",
    "/v1/contacts/<contact_id>/consent",
    summary="The consent state per purpose, channel and scope, as at a time (default now).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.ConsentStateQuery,
    replies=(Reply(200, "The state and the events it derives from.", responses.ConsentState),),
)
def state(contact_id: str, query: schemas.ConsentStateQuery) -> responses.ConsentState:
    """GET /v1/contacts/<id>/consent?at=<RFC 3339>."""
    request = consent_pb2.GetStateRequest(
        contact_id=contact_id, professional_address=query.professional_address
    )
    if query.at is not None:
        request.at.FromDatetime(query.at.astimezone(UTC))
    at = mapping.message_time(request.at) if query.at is not None else None
    return mapping.consent_state(upstream().consent.GetState(request), at)


# --- The catalogue (admin) -------------------------------------------------------------------


@routes.route(
    "GET",
    "/v1/consent/purposes",
    summary="The purposes catalogue (inactive ones on request).",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.PurposesQuery,
    replies=(Reply(200, "One page of the purposes, by key.", responses.ConsentPurposeList),),
)
def list_purposes(query: schemas.PurposesQuery) -> Response:
    """GET /v1/consent/purposes."""
    request = consent_pb2.ListPurposesRequest(
        include_inactive=query.include_inactive,
        page_size=query.page_size,
        page_token=query.page_token,
    )
    reply = upstream().consent.ListPurposes(request)
    listed = responses.ConsentPurposeList(
        purposes=[mapping.consent_purpose(p) for p in reply.purposes],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "POST",
    "/v1/consent/purposes",
    summary="Add a purpose to the catalogue (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.NewPurpose,
    replies=(Reply(201, "The new purpose.", responses.ConsentPurpose),),
)
def create_purpose(body: schemas.NewPurpose) -> responses.ConsentPurpose:
    """POST /v1/consent/purposes."""
    return mapping.consent_purpose(upstream().consent.CreatePurpose(mapping.new_purpose(body)))


@routes.route(
    "PATCH",
    "/v1/consent/purposes/<key>",
    summary="Change a purpose's labels, channels or active flag (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.PurposeChange,
    replies=(Reply(200, "The purpose as changed.", responses.ConsentPurpose),),
)
def update_purpose(key: str, body: schemas.PurposeChange) -> responses.ConsentPurpose:
    """PATCH /v1/consent/purposes/<key>."""
    request = mapping.purpose_change(key, body)
    return mapping.consent_purpose(upstream().consent.UpdatePurpose(request))


@routes.route(
    "GET",
    "/v1/consent/purposes/<key>/notices",
    summary="Every published version of a purpose's notice.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page, by language then version.", responses.ConsentNoticeList),),
)
def list_notices(key: str, query: schemas.Page) -> Response:
    """GET /v1/consent/purposes/<key>/notices."""
    reply = upstream().consent.ListNotices(
        consent_pb2.ListNoticesRequest(
            purpose=key, page_size=query.page_size, page_token=query.page_token
        )
    )
    listed = responses.ConsentNoticeList(
        notices=[mapping.consent_notice(n) for n in reply.notices],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "POST",
    "/v1/consent/purposes/<key>/notices",
    summary="Publish the next version of a notice; earlier ones never change (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.NewNotice,
    replies=(Reply(201, "The published version.", responses.ConsentNotice),),
)
def publish_notice(key: str, body: schemas.NewNotice) -> responses.ConsentNotice:
    """POST /v1/consent/purposes/<key>/notices."""
    request = consent_pb2.PublishNoticeRequest(purpose=key, language=body.language, text=body.text)
    return mapping.consent_notice(upstream().consent.PublishNotice(request))


@routes.route(
    "GET",
    "/v1/consent/basis-rules",
    summary="The legal basis per purpose, channel and contact kind.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page of rules, by purpose, channel, kind.", responses.BasisRuleList),),
)
def list_basis_rules(query: schemas.Page) -> Response:
    """GET /v1/consent/basis-rules."""
    reply = upstream().consent.ListBasisRules(
        consent_pb2.ListBasisRulesRequest(page_size=query.page_size, page_token=query.page_token)
    )
    listed = responses.BasisRuleList(
        rules=[mapping.basis_rule(r) for r in reply.rules], next_page_token=reply.next_page_token
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "PUT",
    "/v1/consent/basis-rules",
    summary="Set the legal basis of a purpose for a channel and contact kind (admin only).",
    access=Access.SIGNED_IN,
    role=Role.ADMIN,
    body=schemas.BasisRuleBody,
    replies=(Reply(200, "The rule as set.", responses.BasisRule),),
)
def set_basis_rule(body: schemas.BasisRuleBody) -> responses.BasisRule:
    """PUT /v1/consent/basis-rules."""
    reply = upstream().consent.SetBasisRule(mapping.basis_rule_message(body))
    return mapping.basis_rule(reply)
