"""Privacy requests: the grouping's DPO opens an access, erasure or rectification request,
follows it, and fetches the export of an access request.

Every route needs the `dpo` role; consent checks again that the token has no
component (the grouping's DPO). The requests live in the consent service,
whose job drives them through contacts, campaigns and the suppression list.
"""

from __future__ import annotations

from flask import Blueprint, Response

from meshkit.roles import Role
from protos.crm.consent.v1 import consent_pb2
from services.gateway import mapping, paging, responses, schemas
from services.gateway.api import JSON, Access, Reply, Routes, json_response
from services.gateway.clients import upstream

blueprint = Blueprint("privacy_requests", __name__)
routes = Routes(blueprint, "privacy requests")

KIND_PREFIX = "PRIVACY_REQUEST_KIND_"
STATUS_PREFIX = "PRIVACY_REQUEST_STATUS_"


@routes.route(
    "POST",
    "/v1/privacy-requests",
    summary="Open an access, erasure or rectification request for a contact (the grouping's dpo).",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    body=schemas.NewPrivacyRequest,
    replies=(
        Reply(
            202,
            "Recorded; the consent service's job drives it (GET it to follow it). A "
            "rectification is forwarded at once: values contacts refuses are a 400.",
            responses.PrivacyRequest,
        ),
    ),
)
def open_privacy_request(body: schemas.NewPrivacyRequest) -> Response:
    """POST /v1/privacy-requests."""
    opened = upstream().consent.OpenPrivacyRequest(_open_message(body))
    response = json_response(privacy_request(opened), 202)
    response.headers["Location"] = f"/v1/privacy-requests/{opened.id}"
    return response


@routes.route(
    "GET",
    "/v1/privacy-requests",
    summary="Privacy requests, newest first (the grouping's dpo).",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    query=schemas.PrivacyRequestsQuery,
    replies=(Reply(200, "One page of requests (no audit trails).", responses.PrivacyRequestList),),
)
def list_privacy_requests(query: schemas.PrivacyRequestsQuery) -> Response:
    """GET /v1/privacy-requests."""
    reply = upstream().consent.ListPrivacyRequests(
        consent_pb2.ListPrivacyRequestsRequest(
            contact_id=query.contact_id or "",
            status=mapping._value(consent_pb2.PrivacyRequestStatus, STATUS_PREFIX, query.status),
            page_size=query.page_size,
            page_token=query.page_token,
        )
    )
    listed = responses.PrivacyRequestList(
        requests=[privacy_request(r) for r in reply.requests],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "GET",
    "/v1/privacy-requests/<request_id>",
    summary="One privacy request: its steps, deadline and audit trail (the grouping's dpo).",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    replies=(Reply(200, "The request.", responses.PrivacyRequest),),
)
def get_privacy_request(request_id: str) -> responses.PrivacyRequest:
    """GET /v1/privacy-requests/<id>."""
    request = consent_pb2.GetPrivacyRequestRequest(id=request_id)
    return privacy_request(upstream().consent.GetPrivacyRequest(request))


@routes.route(
    "GET",
    "/v1/privacy-requests/<request_id>/export",
    summary="The JSON document of a done access request (the grouping's dpo; audited).",
    access=Access.SIGNED_IN,
    role=Role.DPO,
    replies=(
        Reply(
            200,
            "Everything contacts, consent and campaigns hold on the person "
            "(docs/privacy-export.md). 409 while the request is not done.",
            responses.PrivacyExport,
        ),
    ),
)
def get_privacy_export(request_id: str) -> Response:
    """GET /v1/privacy-requests/<id>/export."""
    reply = upstream().consent.GetPrivacyExport(consent_pb2.GetPrivacyExportRequest(id=request_id))
    return Response(reply.document_json, 200, mimetype=JSON)


def _open_message(body: schemas.NewPrivacyRequest) -> consent_pb2.OpenPrivacyRequestRequest:
    message = consent_pb2.OpenPrivacyRequestRequest(
        kind=mapping._value(consent_pb2.PrivacyRequestKind, KIND_PREFIX, body.kind),
        contact_id=body.contact_id,
    )
    if body.rectification is not None:
        fields = body.rectification.fields
        message.rectification.CopyFrom(
            consent_pb2.Rectification(
                owner_component=body.rectification.owner_component,
                set={k: v for k, v in fields.items() if v is not None},
                clear=sorted(k for k, v in fields.items() if v is None),
            )
        )
    return message


def privacy_request(message: consent_pb2.PrivacyRequest) -> responses.PrivacyRequest:
    """The REST form of a request; its audit trail only when the message carries one."""
    return responses.PrivacyRequest(
        id=message.id,
        kind=mapping._word(consent_pb2.PrivacyRequestKind, KIND_PREFIX, message.kind),
        contact_id=message.contact_id or None,
        status=mapping._word(consent_pb2.PrivacyRequestStatus, STATUS_PREFIX, message.status),
        opened_at=mapping.message_time(message.opened_at),
        deadline=mapping.message_time(message.deadline),
        opened_by=message.opened_by,
        finished_at=mapping._time(message, "finished_at"),
        steps=[
            responses.PrivacyStep(
                part=s.part,  # type: ignore[arg-type]
                status=s.status,  # type: ignore[arg-type]
                attempts=s.attempts,
                last_attempt_at=mapping._time(s, "last_attempt_at"),
                last_outcome=s.last_outcome or None,
            )
            for s in message.steps
        ],
        audit=[
            responses.PrivacyAuditEntry(
                at=mapping.message_time(a.at),
                actor=a.actor,
                action=a.action,  # type: ignore[arg-type]
                part=a.part or None,
                outcome=a.outcome or None,
            )
            for a in message.audit
        ]
        or None,
    )
