"""Proto messages to domain values and back; every response is built field by field."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from meshkit.errors import invalid
from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from services.campaigns.interactions_servicer import exported_interaction
from services.campaigns.lifecycle import CampaignStatus
from services.campaigns.preview import PreviewPage
from services.campaigns.privacy import ContactRecords, Erasure
from services.campaigns.reach import ReachView
from services.campaigns.service import CampaignView, DeliveriesPage
from services.campaigns.transactional import TransactionalResult
from services.campaigns.validation import (
    DEFAULT_PRIORITY,
    Audience,
    AudienceKind,
    CampaignEdit,
    Draft,
    OverBudget,
    TransactionalMail,
)

# Every status has its value: the lifecycle's words and the contract's enum, one for one.
_STATUS = {
    status: pb.CampaignStatus.Value(f"CAMPAIGN_STATUS_{status.name}") for status in CampaignStatus
}
_OVER_BUDGET = {
    OverBudget.DEFER: pb.OVER_BUDGET_DEFER,
    OverBudget.DROP: pb.OVER_BUDGET_DROP,
}
_OVER_BUDGET_FROM = {value: word for word, value in _OVER_BUDGET.items()}


def draft_from(request: pb.CreateCampaignRequest) -> Draft:
    """The draft a CreateCampaign request asks for (not yet validated)."""
    return Draft(
        name=request.name,
        purpose=request.purpose,
        subject_template=request.subject_template,
        body_template=request.body_template,
        audience=_audience_from(request),
        priority=request.priority or DEFAULT_PRIORITY,
        deadline=_time_from(request, "deadline"),
        over_budget=_over_budget_from(request.over_budget) or OverBudget.DEFER,
        html_body_template=request.html_body_template,
    )


def edit_from(request: pb.UpdateCampaignRequest) -> CampaignEdit:
    """The changes an UpdateCampaign request asks for: fields it does not carry stay."""

    def given(name: str) -> str | None:
        return str(getattr(request, name)) if request.HasField(name) else None  # type: ignore[arg-type]

    return CampaignEdit(
        name=given("name"),
        purpose=given("purpose"),
        subject_template=given("subject_template"),
        body_template=given("body_template"),
        audience=_audience_from(request) if request.HasField("audience") else None,
        priority=request.priority if request.HasField("priority") else None,
        deadline=_time_from(request, "deadline"),
        clear_deadline=request.clear_deadline,
        over_budget=_over_budget_from(request.over_budget),
        html_body_template=given("html_body_template"),
    )


def _over_budget_from(value: pb.OverBudget.ValueType) -> OverBudget | None:
    if value == pb.OVER_BUDGET_UNSPECIFIED:
        return None
    try:
        return _OVER_BUDGET_FROM[value]
    except KeyError:
        raise invalid("over_budget", "must be defer or drop") from None


def _time_from(
    request: pb.CreateCampaignRequest | pb.UpdateCampaignRequest, name: str
) -> datetime | None:
    if not request.HasField(name):  # type: ignore[arg-type]
        return None
    try:
        return getattr(request, name).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError):
        raise invalid(name, "is not a valid timestamp") from None


def _audience_from(
    request: pb.CreateCampaignRequest | pb.UpdateCampaignRequest,
) -> Audience | None:
    if not request.HasField("audience"):
        return None
    kind = request.audience.WhichOneof("kind")
    if kind == "contact_ids":
        return Audience(AudienceKind.CONTACT_IDS, tuple(request.audience.contact_ids.ids))
    if kind == "all_of_component" and request.audience.all_of_component:
        return Audience(AudienceKind.ALL_OF_COMPONENT)
    return None


def send_at_from(request: pb.ScheduleCampaignRequest) -> datetime | None:
    """The requested start time, or None when absent."""
    if not request.HasField("send_at"):
        return None
    try:
        return request.send_at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise invalid("send_at", "is not a valid timestamp") from None


def campaign_to_proto(view: CampaignView, *, summary: bool = False) -> pb.Campaign:
    """The campaign as a message; `summary` leaves the audience's contact ids out."""
    message = pb.Campaign(
        id=view.id,
        name=view.name,
        owner_component=view.owner_component,
        purpose=view.purpose,
        subject_template=view.subject_template,
        body_template=view.body_template,
        status=_STATUS[view.status],
        created_by=view.created_by,
        created_at=_timestamp(view.created_at),
        outcome_counts=view.outcome_counts,
        priority=view.priority,
        over_budget=_OVER_BUDGET[view.over_budget],
        html_body_template=view.html_body_template,
    )
    if view.deadline is not None:
        message.deadline.CopyFrom(_timestamp(view.deadline))
    if view.audience.kind is AudienceKind.ALL_OF_COMPONENT:
        message.audience.all_of_component = True
    elif summary:
        message.audience.contact_ids.SetInParent()
    else:
        message.audience.contact_ids.ids.extend(view.audience.contact_ids)
    if view.send_at is not None:
        message.send_at.CopyFrom(_timestamp(view.send_at))
    return message


def deliveries_to_proto(page: DeliveriesPage) -> pb.ListDeliveriesResponse:
    reply = pb.ListDeliveriesResponse(next_page_token=page.next_page_token)
    for delivery in page.deliveries:
        item = reply.deliveries.add(
            contact_id=delivery.contact_id,
            outcome=delivery.outcome,
            rule=delivery.rule or "",
            message_id=delivery.message_id or "",
        )
        if delivery.decided_at is not None:
            item.decided_at.CopyFrom(_timestamp(delivery.decided_at))
        if delivery.deferred_until is not None:
            item.deferred_until.CopyFrom(_timestamp(delivery.deferred_until))
    return reply


def preview_to_proto(page: PreviewPage) -> pb.PreviewCampaignResponse:
    reply = pb.PreviewCampaignResponse(
        audience=page.audience,
        counts=page.counts,
        next_page_token=page.next_page_token,
        counts_deferred=page.counts_deferred,
    )
    for row in page.rows:
        item = reply.recipients.add(
            contact_id=row.contact_id,
            outcome=row.outcome,
            rule=row.rule,
            email=row.email,
            merge_fields=row.merge_fields,
        )
        if row.deferred_until is not None:
            item.deferred_until.CopyFrom(_timestamp(row.deferred_until))
    return reply


def reach_to_proto(view: ReachView) -> pb.Reach:
    reply = pb.Reach(
        status=view.status,
        audience=view.audience,
        evaluated=view.evaluated,
        counts=view.counts,
        stale=view.stale,
    )
    if view.started_at is not None:
        reply.started_at.CopyFrom(_timestamp(view.started_at))
    if view.finished_at is not None:
        reply.finished_at.CopyFrom(_timestamp(view.finished_at))
    return reply


def transactional_from(request: pb.SendTransactionalRequest) -> TransactionalMail:
    """The mail a SendTransactional request asks for (not yet validated)."""
    return TransactionalMail(
        idempotency_key=request.idempotency_key,
        contact_id=request.contact_id,
        kind=request.kind,
        subject=request.subject,
        text_body=request.text_body,
        component_id=request.component_id,
        to=request.to,
        html_body=request.html_body,
        headers=tuple(sorted(request.headers.items())),
        purpose=request.purpose,
        list_unsubscribe=request.list_unsubscribe,
    )


def transactional_to_proto(result: TransactionalResult) -> pb.SendTransactionalResponse:
    row = result.row
    return pb.SendTransactionalResponse(
        delivery_id=str(row.id),
        outcome=row.outcome,
        rule=row.rule or "",
        message_id=row.message_id or "",
        replayed=result.replayed,
    )


def test_send_to_proto(result: TransactionalResult) -> pb.SendTestCampaignResponse:
    row = result.row
    return pb.SendTestCampaignResponse(
        delivery_id=str(row.id),
        outcome=row.outcome,
        rule=row.rule or "",
        message_id=row.message_id or "",
    )


def export_to_proto(records: ContactRecords) -> pb.ContactExport:
    reply = pb.ContactExport(contact_id=records.contact_id, merged_ids=records.merged_ids)
    for record in records.deliveries:
        item = reply.deliveries.add(
            contact_id=record.contact_id,
            message_class=record.message_class,
            campaign_id=record.campaign_id or "",
            campaign_name=record.campaign_name or "",
            campaign_purpose=record.campaign_purpose or "",
            owner_component=record.owner_component or "",
            kind=record.kind or "",
            sender=record.sender or "",
            outcome=record.outcome,
            rule=record.rule or "",
            message_id=record.message_id or "",
        )
        if record.decided_at is not None:
            item.decided_at.CopyFrom(_timestamp(record.decided_at))
        if record.sent_at is not None:
            item.sent_at.CopyFrom(_timestamp(record.sent_at))
    for slot in records.pressure:
        reply.pressure.add(campaign_id=slot.campaign_id, at=_timestamp(slot.at), rule=slot.rule)
    reply.interactions.extend(exported_interaction(i) for i in records.interactions)
    for response in records.responses:
        reply.responses.add(
            contact_id=response.contact_id,
            event_id=response.event_id,
            kind=response.kind,
            at=_timestamp(response.at),
            attributed_component=response.component or "",
            attributed_purpose=response.purpose or "",
        )
    return reply


def erasure_to_proto(erasure: Erasure) -> pb.EraseContactResponse:
    return pb.EraseContactResponse(
        deliveries_anonymised=erasure.deliveries_anonymised,
        audiences_changed=erasure.audiences_changed,
        aliases_removed=erasure.aliases_removed,
        pressure_keys_dropped=erasure.pressure_keys_dropped,
    )


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
