"""Proto messages to domain values and back; every response is built field by field."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from meshkit.errors import invalid
from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from services.campaigns.service import CampaignView, DeliveriesPage
from services.campaigns.validation import Audience, AudienceKind, Draft

_STATUS = {
    "draft": pb.CAMPAIGN_STATUS_DRAFT,
    "scheduled": pb.CAMPAIGN_STATUS_SCHEDULED,
    "running": pb.CAMPAIGN_STATUS_RUNNING,
    "done": pb.CAMPAIGN_STATUS_DONE,
}


def draft_from(request: pb.CreateCampaignRequest) -> Draft:
    """The draft a CreateCampaign request asks for (not yet validated)."""
    return Draft(
        name=request.name,
        purpose=request.purpose,
        subject_template=request.subject_template,
        body_template=request.body_template,
        audience=_audience_from(request),
    )


def _audience_from(request: pb.CreateCampaignRequest) -> Audience | None:
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


def campaign_to_proto(view: CampaignView) -> pb.Campaign:
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
    )
    if view.audience.kind is AudienceKind.ALL_OF_COMPONENT:
        message.audience.all_of_component = True
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
    return reply


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
