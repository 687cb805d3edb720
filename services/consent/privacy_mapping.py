"""Privacy-request proto messages to domain values and back; nothing else."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent.privacy_policy import AuditEntry, Kind, PrivacyRequest, Status, Step
from services.consent.privacy_requests import Page
from services.consent.privacy_validation import ListQuery, OpenRequest

KINDS = {
    pb.PRIVACY_REQUEST_KIND_ACCESS: Kind.ACCESS,
    pb.PRIVACY_REQUEST_KIND_ERASURE: Kind.ERASURE,
    pb.PRIVACY_REQUEST_KIND_RECTIFICATION: Kind.RECTIFICATION,
}
KINDS_PB = {domain: proto for proto, domain in KINDS.items()}
STATUSES = {
    pb.PRIVACY_REQUEST_STATUS_OPEN: Status.OPEN,
    pb.PRIVACY_REQUEST_STATUS_IN_PROGRESS: Status.IN_PROGRESS,
    pb.PRIVACY_REQUEST_STATUS_DONE: Status.DONE,
    pb.PRIVACY_REQUEST_STATUS_FAILED: Status.FAILED,
}
STATUSES_PB = {domain: proto for proto, domain in STATUSES.items()}


def open_request(message: pb.OpenPrivacyRequestRequest) -> OpenRequest:
    """The request as received; an unknown or unspecified kind becomes None for validation."""
    rectification = message.rectification
    return OpenRequest(
        kind=KINDS.get(message.kind),
        contact_id=message.contact_id,
        owner_component=rectification.owner_component,
        values=dict(rectification.set),
        clear=list(rectification.clear),
        has_rectification=message.HasField("rectification"),
    )


def list_query(message: pb.ListPrivacyRequestsRequest) -> ListQuery:
    return ListQuery(
        contact_id=message.contact_id,
        status=STATUSES.get(message.status),
        page_size=message.page_size,
        page_token=message.page_token,
    )


def request_message(request: PrivacyRequest) -> pb.PrivacyRequest:
    message = pb.PrivacyRequest(
        id=request.id,
        kind=KINDS_PB[request.kind],
        contact_id=request.contact_id or "",
        status=STATUSES_PB[request.status],
        opened_by=request.opened_by,
        steps=[_step(s) for s in request.steps],
        audit=[_audit(a) for a in request.audit],
    )
    message.opened_at.CopyFrom(_timestamp(request.opened_at))
    message.deadline.CopyFrom(_timestamp(request.deadline))
    if request.finished_at is not None:
        message.finished_at.CopyFrom(_timestamp(request.finished_at))
    return message


def page_message(page: Page) -> pb.ListPrivacyRequestsResponse:
    return pb.ListPrivacyRequestsResponse(
        requests=[request_message(r) for r in page.requests],
        next_page_token=page.next_page_token,
    )


def export_message(document: dict[str, Any]) -> pb.PrivacyExport:
    return pb.PrivacyExport(document_json=json.dumps(document, ensure_ascii=False))


def _step(step: Step) -> pb.PrivacyStep:
    message = pb.PrivacyStep(
        part=step.part.value,
        status=step.status.value,
        attempts=step.attempts,
        last_outcome=step.last_outcome or "",
    )
    if step.last_attempt_at is not None:
        message.last_attempt_at.CopyFrom(_timestamp(step.last_attempt_at))
    return message


def _audit(entry: AuditEntry) -> pb.PrivacyAuditEntry:
    message = pb.PrivacyAuditEntry(
        actor=entry.actor,
        action=entry.action,
        part=entry.part.value if entry.part else "",
        outcome=entry.outcome or "",
    )
    message.at.CopyFrom(_timestamp(entry.at))
    return message


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
