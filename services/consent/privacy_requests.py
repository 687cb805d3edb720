"""Privacy requests, the use cases: open, read, list, fetch an export, erase consent's part,
and the job that drives every unfinished request (`advance_open_requests`).

Storage choice for access exports: each part (contacts, consent, campaigns) is
stored as JSON on its step when it answers, and the document is assembled when
the DPO fetches it. The parts stay until the contact is erased (an erasure
scrubs every request about the person: id, values and parts). They are
readable only by the grouping's DPO, through GetPrivacyExport, which is audited.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from meshkit.db import Database
from meshkit.errors import (
    DomainError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    invalid,
)
from meshkit.identity import Principal
from services.consent import merges, policy, repository
from services.consent.clients import ContactDirectory
from services.consent.domain import ConsentEvent, ContactKind, Scope
from services.consent.privacy_clients import (
    ERASED,
    CampaignsPrivacy,
    ContactsPrivacy,
    SuppressionList,
    Unwired,
)
from services.consent.privacy_policy import (
    STEPS,
    AuditEntry,
    Backoff,
    Kind,
    Outcome,
    Part,
    PrivacyRequest,
    Rectification,
    Status,
    Step,
    StepStatus,
    after_attempt,
    contact_digest,
    deadline,
    is_grouping_dpo,
    next_step,
    outcome_of,
    step_after,
)
from services.consent.privacy_validation import (
    MAX_ID,
    ListQuery,
    OpenRequest,
    decode_page_token,
    encode_page_token,
    page_size,
    valid_list,
    valid_open,
    valid_request_id,
)
from services.consent.service import Clock, utc_now

log = logging.getLogger(__name__)

EXPORT_FORMAT = "crm-mesh/privacy-export/v1"
JOB_ACTOR = "service:consent"
BATCH = 20  # requests one run of the job takes on


@dataclass(frozen=True)
class Parts:
    """Everything a privacy request talks to besides consent's own database."""

    directory: ContactDirectory
    contacts: ContactsPrivacy
    campaigns: CampaignsPrivacy = field(default_factory=lambda: Unwired("campaigns"))
    suppression: SuppressionList = field(default_factory=lambda: Unwired("suppression list"))
    backoff: Backoff = field(default_factory=Backoff)
    clock: Clock = utc_now


@dataclass(frozen=True)
class Page:
    requests: list[PrivacyRequest]
    next_page_token: str


def require_grouping_dpo(principal: Principal) -> None:
    if not is_grouping_dpo(principal):
        raise PermissionDenied(
            "privacy requests are the grouping's data-protection officer's (dpo, no component)"
        )


def open_request(db: Database, parts: Parts, principal: Principal, raw: OpenRequest) -> str:
    """Records a request for an existing contact, due at once; returns its id.

    A rectification is forwarded at once: values contacts refuses are a 4xx and
    nothing is recorded; when contacts does not answer, the job retries it.
    """
    require_grouping_dpo(principal)
    valid = valid_open(raw)
    if valid.contact_id not in parts.directory.members([valid.contact_id]):
        raise NotFound("contact not found")
    now = parts.clock()
    steps = tuple(Step(p, StepStatus.PENDING, 0, None, None) for p in STEPS[valid.kind])
    request = PrivacyRequest(
        id=str(uuid.uuid4()),
        kind=valid.kind,
        contact_id=valid.contact_id,
        status=Status.OPEN,
        opened_at=now,
        deadline=deadline(now),
        opened_by=principal.subject,
        finished_at=None,
        steps=steps,
    )
    first: tuple[Step, DomainError | None] | None = None
    if valid.rectification is not None:
        first = _forward_rectification(parts, valid.contact_id, valid.rectification, now)
        step, error = first
        if step.status is StepStatus.FAILED and error is not None:
            raise error  # contacts said no: the caller hears why, nothing is written
    with db.transaction() as session:
        repository.insert_privacy_request(session, request, valid.rectification)
        _audit(session, request.id, now, principal.subject, "opened")
        if first is not None:
            _settle(session, parts, request, first[0], None, now)
    return request.id


def get_request(db: Database, principal: Principal, request_id: str) -> PrivacyRequest:
    """One request with its steps and audit trail."""
    require_grouping_dpo(principal)
    valid_request_id(request_id)
    with db.transaction() as session:
        found = repository.privacy_request(session, request_id)
    if found is None:
        raise NotFound("privacy request not found")
    return found


def list_requests(db: Database, principal: Principal, query: ListQuery) -> Page:
    """Requests newest first, optionally about one contact (erased ones too) or in one status."""
    require_grouping_dpo(principal)
    query = valid_list(query)
    size = page_size(query.page_size)
    # A position belongs to one query: the same contact and status filters.
    binding = (query.contact_id, query.status.value if query.status else "")
    after = decode_page_token(query.page_token, *binding)
    digest = contact_digest(query.contact_id) if query.contact_id else None
    with db.transaction() as session:
        found = repository.privacy_requests(session, digest, query.status, after, size + 1)
    token = ""
    if len(found) > size:
        last = found[size - 1]
        token = encode_page_token(last.opened_at, last.id, *binding)
    return Page(found[:size], token)


def export_document(
    db: Database, principal: Principal, request_id: str, clock: Clock = utc_now
) -> dict[str, Any]:
    """The document of a done access request, assembled from its stored parts; audited."""
    require_grouping_dpo(principal)
    valid_request_id(request_id)
    with db.transaction() as session:
        request = repository.privacy_request(session, request_id, with_audit=False)
        if request is None:
            raise NotFound("privacy request not found")
        if request.kind is not Kind.ACCESS:
            raise FailedPrecondition("only an access request has an export")
        if request.status is not Status.DONE:
            raise FailedPrecondition(f"the request is {request.status.value}, not done")
        stored = repository.privacy_export_parts(session, request_id)
        if request.contact_id is None or set(stored) != {p.value for p in STEPS[Kind.ACCESS]}:
            raise FailedPrecondition("the contact was erased since: the export is gone")
        now = clock()
        _audit(session, request_id, now, principal.subject, "fetched")
    return {
        "format": EXPORT_FORMAT,
        "request": {
            "id": request.id,
            "opened_at": request.opened_at.isoformat(),
            "deadline": request.deadline.isoformat(),
            "opened_by": request.opened_by,
            "finished_at": request.finished_at.isoformat() if request.finished_at else None,
        },
        "generated_at": now.isoformat(),
        "contact_id": request.contact_id,
        "contacts": stored[Part.CONTACTS.value],
        "consent": stored[Part.CONSENT.value],
        "campaigns": stored[Part.CAMPAIGNS.value],
    }


def erase_contact(db: Database, principal: Principal, contact_id: str) -> int:
    """Erases consent's part of a contact; returns the events erased.

    For services, and for the grouping's DPO (the gateway's immediate erasure route).
    """
    if not principal.is_service:
        require_grouping_dpo(principal)
    if not contact_id or len(contact_id) > MAX_ID:
        raise invalid("contact_id", f"required, at most {MAX_ID} characters")
    with db.transaction() as session:
        ids = _person_ids(session, contact_id)
        erased = repository.erase_consent_events(session, ids)
        repository.scrub_privacy_requests(session, ids)
    return erased


def advance_open_requests(db: Database, parts: Parts, limit: int = BATCH) -> int:
    """The job: one attempt at each due request; returns how many it took on.

    Idempotent and safe on several replicas: each request is locked for the
    attempt (FOR UPDATE SKIP LOCKED), and every step may be repeated.
    """
    with db.transaction() as session:
        due = repository.due_privacy_requests(session, parts.clock(), limit)
    taken = 0
    for request_id in due:
        try:
            with db.transaction() as session:
                taken += _advance(session, parts, request_id)
        except Exception:  # one broken request must not stop the others
            log.exception("privacy request %s: attempt failed", request_id)
    return taken


def _advance(session: Session, parts: Parts, request_id: str) -> int:
    now = parts.clock()
    claimed = repository.claim_privacy_request(session, request_id, now)
    if claimed is None:
        return 0  # another replica has it, or it is no longer due
    request, rectification = claimed
    # Steps run in order; the first one not answered ends this attempt.
    while (part := next_step(request.kind, request.step_statuses())) is not None:
        attempted, result = _attempt(session, parts, request, part, rectification, now)
        _settle(session, parts, request, attempted, result, now)
        steps = tuple(attempted if s.part is part else s for s in request.steps)
        status = after_attempt(request.status, {s.part: s.status for s in steps})
        request = replace(request, steps=steps, status=status)
        if attempted.status is not StepStatus.DONE:
            break
    return 1


def _attempt(
    session: Session,
    parts: Parts,
    request: PrivacyRequest,
    part: Part,
    rectification: Rectification | None,
    now: datetime,
) -> tuple[Step, dict[str, Any] | None]:
    """One try at one step: the step as it stands after, and its export part if any."""
    step = next(s for s in request.steps if s.part is part)
    contact_id = request.contact_id
    result: dict[str, Any] | None = None
    try:
        if contact_id is None:
            raise NotFound("the contact was erased by another request")
        result = _run(session, parts, request.kind, part, contact_id, rectification)
        outcome, code = Outcome.DONE, "done"
    except DomainError as error:
        outcome, code = outcome_of(request.kind, error.grpc_code), error.grpc_code
        if contact_id is None:
            outcome = Outcome.REFUSED
    attempted = Step(part, step_after(outcome), step.attempts + 1, now, code)
    return attempted, result


def _run(
    session: Session,
    parts: Parts,
    kind: Kind,
    part: Part,
    contact_id: str,
    rectification: Rectification | None,
) -> dict[str, Any] | None:
    """Asks one part to do its share; raises a DomainError when it does not."""
    if kind is Kind.ACCESS:
        if part is Part.CONTACTS:
            return parts.contacts.export(contact_id)
        if part is Part.CONSENT:
            return _consent_part(session, contact_id)
        return parts.campaigns.export(contact_id)
    if kind is Kind.RECTIFICATION:
        assert rectification is not None
        parts.contacts.rectify(
            contact_id, rectification.owner, rectification.values, rectification.clear
        )
        return None
    if part is Part.SUPPRESSION:
        addresses = parts.contacts.addresses(contact_id)  # held in memory for this call only
        if addresses:
            parts.suppression.suppress(addresses, ERASED)
    elif part is Part.CAMPAIGNS:
        parts.campaigns.erase(contact_id)
    elif part is Part.CONSENT:
        repository.erase_consent_events(session, _person_ids(session, contact_id))
    else:
        parts.contacts.erase(contact_id)
    return None


def _forward_rectification(
    parts: Parts, contact_id: str, rectification: Rectification, now: datetime
) -> tuple[Step, DomainError | None]:
    """The first attempt of a rectification, made while the DPO waits for the answer."""
    try:
        parts.contacts.rectify(
            contact_id, rectification.owner, rectification.values, rectification.clear
        )
    except DomainError as error:
        outcome = outcome_of(Kind.RECTIFICATION, error.grpc_code)
        return Step(Part.CONTACTS, step_after(outcome), 1, now, error.grpc_code), error
    return Step(Part.CONTACTS, StepStatus.DONE, 1, now, "done"), None


def _settle(
    session: Session,
    parts: Parts,
    request: PrivacyRequest,
    attempted: Step,
    result: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Stores an attempt, audits it, and moves the request on (finished, or due later)."""
    repository.record_step_attempt(session, request.id, attempted, result)
    _audit(session, request.id, now, JOB_ACTOR, "attempted", attempted.part, attempted.last_outcome)
    statuses = {**request.step_statuses(), attempted.part: attempted.status}
    status = after_attempt(request.status, statuses)
    if status is Status.IN_PROGRESS:
        waited = attempted.attempts if attempted.status is StepStatus.PENDING else 0
        later = now + parts.backoff.delay(waited) if waited else now
        repository.update_privacy_request(session, request.id, status, later, None)
        return
    repository.update_privacy_request(session, request.id, status, now, now)
    _audit(session, request.id, now, JOB_ACTOR, "finished", None, status.value)
    if status is Status.DONE and request.kind is Kind.ERASURE and request.contact_id:
        repository.scrub_privacy_requests(session, [request.contact_id])


def _consent_part(session: Session, contact_id: str) -> dict[str, Any]:
    """Consent's part of an access export: every event of the person and where each stands."""
    ids = _person_ids(session, contact_id)
    events = repository.history(session, ids)  # by seq
    survivor, _group, merge_seq = merges.people(session, [contact_id])
    return {
        "contact_ids": sorted(ids),
        "events": [_event_json(e) for e in events],
        "state": _state(session, events, merge_seq.get(survivor[contact_id])),
    }


def _state(
    session: Session, events: list[ConsentEvent], merge_seq: int | None
) -> list[dict[str, Any]]:
    """Where each purpose x channel stands now, for the grouping and each component named.

    Read as for a consumer (the stricter reading of the basis rules): an export
    says what consent holds, not what a business address would allow.
    """
    purposes = repository.purposes(session, include_inactive=True)
    rules = repository.rules(session, None)
    entries = policy.state(
        events, merge_seq, purposes, rules, ContactKind.CONSUMER, policy.scopes_of(events)
    )
    return [
        {
            "channel": entry.channel.value,
            "purpose": entry.purpose,
            "scope": _scope_json(entry.scope),
            "decision": entry.verdict.decision.value,
            "allowed": entry.verdict.allowed,
            "basis": entry.verdict.basis.value if entry.verdict.basis else None,
            "deciding_event_id": entry.verdict.deciding_event_id,
        }
        for entry in entries
    ]


def _scope_json(scope: Scope) -> dict[str, Any]:
    return {"component": scope.component} if scope.component else {"grouping": True}


def _event_json(event: ConsentEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "contact_id": event.contact_id,
        "kind": event.kind.value,
        "channel": event.channel.value if event.channel else None,
        "purpose": event.purpose,
        "scope": _scope_json(event.scope),
        "legal_basis": event.legal_basis.value if event.legal_basis else None,
        "pending": event.pending,
        "refers_to": event.refers_to,
        "notice_id": event.notice_id,
        "how": event.how.value,
        "source": event.source,
        "text_shown": event.text_shown,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "actor_subject": event.actor_subject,
        "actor_component": event.actor_component,
        "recorded_at": event.recorded_at.isoformat(),
    }


def _person_ids(session: Session, contact_id: str) -> set[str]:
    """Every id of the person `contact_id` names (merged records included)."""
    survivor, group, _ = merges.people(session, [contact_id])
    return set(group.get(survivor[contact_id], {contact_id}))


def _audit(
    session: Session,
    request_id: str,
    at: datetime,
    actor: str,
    action: str,
    part: Part | None = None,
    outcome: str | None = None,
) -> None:
    repository.audit_privacy_request(
        session, request_id, AuditEntry(at, actor, action, part, outcome)
    )
