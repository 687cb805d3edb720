"""Campaigns of the caller's component: REST in front of crm.campaigns.v1.CampaignsService."""

from __future__ import annotations

from flask import Blueprint

from meshkit.roles import Role
from protos.crm.campaigns.v1 import campaigns_pb2
from services.gateway import mapping, responses, schemas
from services.gateway.api import ANY_ROLE, Access, Reply, Routes
from services.gateway.clients import upstream

blueprint = Blueprint("campaigns", __name__)
routes = Routes(blueprint, "campaigns")


@routes.route(
    "POST",
    "/v1/campaigns",
    summary="Create a draft campaign of the caller's component.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.NewCampaign,
    replies=(Reply(201, "The draft.", responses.Campaign),),
)
def create_campaign(body: schemas.NewCampaign) -> responses.Campaign:
    """POST /v1/campaigns."""
    return mapping.campaign(upstream().campaigns.CreateCampaign(mapping.new_campaign(body)))


@routes.route(
    "GET",
    "/v1/campaigns",
    summary="List the campaigns of the caller's component.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    replies=(Reply(200, "The campaigns.", responses.CampaignList),),
)
def list_campaigns() -> responses.CampaignList:
    """GET /v1/campaigns."""
    reply = upstream().campaigns.ListCampaigns(campaigns_pb2.ListCampaignsRequest())
    return responses.CampaignList(campaigns=[mapping.campaign(c) for c in reply.campaigns])


@routes.route(
    "GET",
    "/v1/campaigns/<campaign_id>",
    summary="Read one campaign and its outcome counts.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    replies=(Reply(200, "The campaign.", responses.Campaign),),
)
def get_campaign(campaign_id: str) -> responses.Campaign:
    """GET /v1/campaigns/<id>."""
    request = campaigns_pb2.GetCampaignRequest(id=campaign_id)
    return mapping.campaign(upstream().campaigns.GetCampaign(request))


@routes.route(
    "POST",
    "/v1/campaigns/<campaign_id>/schedule",
    summary="Schedule a campaign to be sent at a given time.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.Schedule,
    replies=(Reply(200, "The scheduled campaign.", responses.Campaign),),
)
def schedule(campaign_id: str, body: schemas.Schedule) -> responses.Campaign:
    """POST /v1/campaigns/<id>/schedule."""
    return mapping.campaign(
        upstream().campaigns.ScheduleCampaign(mapping.schedule(campaign_id, body))
    )


@routes.route(
    "POST",
    "/v1/campaigns/<campaign_id>/send",
    summary="Start sending a campaign now; the dispatch goes on in the background.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.SendNow,
    body_optional=True,
    replies=(Reply(202, "The campaign, accepted for sending.", responses.Campaign),),
)
def send_now(campaign_id: str, body: schemas.SendNow) -> responses.Campaign:
    """POST /v1/campaigns/<id>/send."""
    request = campaigns_pb2.SendNowRequest(id=campaign_id)
    return mapping.campaign(upstream().campaigns.SendNow(request))


@routes.route(
    "GET",
    "/v1/campaigns/<campaign_id>/deliveries",
    summary="Who was reached, and the rule that decided for everyone who was not.",
    access=Access.COMPONENT,
    role=ANY_ROLE,
    query=schemas.Page,
    replies=(Reply(200, "One page of deliveries.", responses.DeliveryList),),
)
def list_deliveries(campaign_id: str, query: schemas.Page) -> responses.DeliveryList:
    """GET /v1/campaigns/<id>/deliveries."""
    reply = upstream().campaigns.ListDeliveries(
        campaigns_pb2.ListDeliveriesRequest(
            campaign_id=campaign_id, page_size=query.page_size, page_token=query.page_token
        )
    )
    return responses.DeliveryList(
        deliveries=[mapping.delivery(d) for d in reply.deliveries],
        next_page_token=reply.next_page_token,
    )
