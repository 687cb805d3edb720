"""Interaction history of one contact: REST in front of crm.campaigns.v1.InteractionsService.

"Who contacted this person this month?": the mailings and the recorded
interactions, newest first. Campaigns decides who sees what with the
forwarded token: every member component sees every entry, the subject and
content only the component that made it; a non-member gets a 404.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, Response

from meshkit.roles import Role
from protos.crm.campaigns.v1 import interactions_pb2
from services.gateway import interactions_schemas as schemas
from services.gateway import mapping, paging
from services.gateway.api import ANY_ROLE, Access, Reply, Routes
from services.gateway.clients import upstream

blueprint = Blueprint("interactions", __name__)
routes = Routes(blueprint, "interactions")

# Clients.over keeps its channels in this order: contacts, consent, campaigns, ...


@routes.route(
    "GET",
    "/v1/contacts/<contact_id>/interactions",
    summary="Who contacted this person: mailings and recorded interactions, newest first.",
    access=Access.SIGNED_IN,
    role=ANY_ROLE,
    query=schemas.InteractionsQuery,
    replies=(
        Reply(
            200,
            "One page of the history. Members of the contact see every entry; the subject, "
            "content and recorder only on their own component's entries (`content_hidden` "
            "elsewhere). Administrators and the grouping's dpo see everything. A caller whose "
            "component is not a member gets a 404, as for no contact.",
            schemas.InteractionList,
        ),
    ),
)
def list_interactions(contact_id: str, query: schemas.InteractionsQuery) -> Response:
    """GET /v1/contacts/<id>/interactions?since=&until=&page_size=&page_token=."""
    request = interactions_pb2.ListInteractionsRequest(
        contact_id=contact_id, page_size=query.page_size, page_token=query.page_token
    )
    if query.since is not None:
        request.since.FromDatetime(query.since.astimezone(UTC))
    if query.until is not None:
        request.until.FromDatetime(query.until.astimezone(UTC))
    reply = upstream().interactions.ListInteractions(request)
    listed = schemas.InteractionList(
        entries=[entry(e) for e in reply.entries], next_page_token=reply.next_page_token
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "POST",
    "/v1/contacts/<contact_id>/interactions",
    summary="Record a phone call, a meeting, an event attended or an SMS sent elsewhere.",
    access=Access.COMPONENT,
    role=Role.CONTACT_EDITOR,
    body=schemas.NewInteraction,
    replies=(
        Reply(201, "Recorded for the caller's component.", schemas.RecordedInteraction),
        Reply(200, "The idempotency key was known: the first record.", schemas.RecordedInteraction),
    ),
)
def record_interaction(
    contact_id: str, body: schemas.NewInteraction
) -> tuple[schemas.RecordedInteraction, int]:
    """POST /v1/contacts/<id>/interactions."""
    request = interactions_pb2.RecordInteractionRequest(
        contact_id=contact_id,
        channel=body.channel,
        purpose=body.purpose or "",
        subject=body.subject,
        content=body.content,
        idempotency_key=body.idempotency_key or "",
    )
    if body.occurred_at is not None:
        request.occurred_at.FromDatetime(body.occurred_at.astimezone(UTC))
    reply = upstream().interactions.RecordInteraction(request)
    recorded = schemas.RecordedInteraction(
        interaction=entry(reply.interaction), replayed=reply.replayed
    )
    return recorded, 200 if reply.replayed else 201


def entry(message: interactions_pb2.InteractionEntry) -> schemas.InteractionEntry:
    """The REST form of one entry: empty strings are absent fields."""
    optional: dict[str, Any] = {
        name: getattr(message, name) or None
        for name in (
            "purpose",
            "campaign_id",
            "campaign_name",
            "message_class",
            "transactional_kind",
            "outcome",
            "source",
            "recorded_by",
            "subject",
            "content",
        )
    }
    return schemas.InteractionEntry(
        id=message.id,
        kind=message.kind,  # type: ignore[arg-type]
        contact_id=message.contact_id,
        occurred_at=mapping.message_time(message.occurred_at),
        component=message.component,
        channel=message.channel,
        recorded_at=mapping._time(message, "recorded_at"),
        content_hidden=message.content_hidden,
        **optional,
    )
