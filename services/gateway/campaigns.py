"""Campaigns of the caller's component: REST in front of crm.campaigns.v1.CampaignsService."""

from __future__ import annotations

from flask import Blueprint, Response

from meshkit.roles import Role
from protos.crm.campaigns.v1 import campaigns_pb2
from services.gateway import mapping, paging, responses, schemas
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
    query=schemas.Page,
    replies=(Reply(200, "One page of campaigns, newest first.", responses.CampaignList),),
)
def list_campaigns(query: schemas.Page) -> Response:
    """GET /v1/campaigns."""
    reply = upstream().campaigns.ListCampaigns(
        campaigns_pb2.ListCampaignsRequest(page_size=query.page_size, page_token=query.page_token)
    )
    listed = responses.CampaignList(
        campaigns=[mapping.campaign(c) for c in reply.campaigns],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


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
def list_deliveries(campaign_id: str, query: schemas.Page) -> Response:
    """GET /v1/campaigns/<id>/deliveries."""
    reply = upstream().campaigns.ListDeliveries(
        campaigns_pb2.ListDeliveriesRequest(
            campaign_id=campaign_id, page_size=query.page_size, page_token=query.page_token
        )
    )
    listed = responses.DeliveryList(
        deliveries=[mapping.delivery(d) for d in reply.deliveries],
        next_page_token=reply.next_page_token,
    )
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "GET",
    "/v1/campaigns/<campaign_id>/preview",
    summary="Dry run of a draft or scheduled campaign: who would be reached now, and why not.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    query=schemas.Page,
    replies=(
        Reply(200, "One page of the preview; the first also counts outcomes.", responses.Preview),
    ),
)
def preview_campaign(campaign_id: str, query: schemas.Page) -> Response:
    """GET /v1/campaigns/<id>/preview: nothing is reserved or written; 409 once started."""
    reply = upstream().campaigns.PreviewCampaign(
        campaigns_pb2.PreviewCampaignRequest(
            id=campaign_id, page_size=query.page_size, page_token=query.page_token
        )
    )
    listed = mapping.preview(reply)
    return paging.page(listed, listed.next_page_token)


@routes.route(
    "GET",
    "/v1/campaigns/<campaign_id>/reach",
    summary="A campaign's counts per outcome over its whole audience, counted in the background.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    query=schemas.ReachQuery,
    replies=(
        Reply(
            200,
            "The latest count (status counting, done or failed); refresh=true counts again.",
            responses.Reach,
        ),
    ),
)
def reach(campaign_id: str, query: schemas.ReachQuery) -> responses.Reach:
    """GET /v1/campaigns/<id>/reach: answers at once; nothing is reserved; 409 once started."""
    request = campaigns_pb2.GetReachRequest(id=campaign_id, refresh=query.refresh)
    return mapping.reach(upstream().campaigns.GetReach(request))


@routes.route(
    "PATCH",
    "/v1/campaigns/<campaign_id>",
    summary="Change a draft or scheduled campaign; only the fields given change.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.CampaignChanges,
    replies=(Reply(200, "The campaign as changed.", responses.Campaign),),
)
def update_campaign(campaign_id: str, body: schemas.CampaignChanges) -> responses.Campaign:
    """PATCH /v1/campaigns/<id>: 409 once the campaign is running, paused, done or cancelled."""
    request = mapping.campaign_changes(campaign_id, body)
    return mapping.campaign(upstream().campaigns.UpdateCampaign(request))


@routes.route(
    "POST",
    "/v1/campaigns/<campaign_id>/unschedule",
    summary="Take a scheduled campaign back to draft; its planned start is dropped.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.LifecycleStep,
    body_optional=True,
    replies=(Reply(200, "The draft.", responses.Campaign),),
)
def unschedule(campaign_id: str, body: schemas.LifecycleStep) -> responses.Campaign:
    """POST /v1/campaigns/<id>/unschedule: 409 unless it is scheduled."""
    request = campaigns_pb2.UnscheduleCampaignRequest(id=campaign_id)
    return mapping.campaign(upstream().campaigns.UnscheduleCampaign(request))


@routes.route(
    "POST",
    "/v1/campaigns/<campaign_id>/pause",
    summary="Pause a running campaign: no further recipient is mailed until it resumes.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.LifecycleStep,
    body_optional=True,
    replies=(Reply(200, "The paused campaign.", responses.Campaign),),
)
def pause(campaign_id: str, body: schemas.LifecycleStep) -> responses.Campaign:
    """POST /v1/campaigns/<id>/pause: 409 unless it is running."""
    request = campaigns_pb2.PauseCampaignRequest(id=campaign_id)
    return mapping.campaign(upstream().campaigns.PauseCampaign(request))


@routes.route(
    "POST",
    "/v1/campaigns/<campaign_id>/resume",
    summary="Resume a paused campaign: the recipients not yet reached are mailed, once each.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.LifecycleStep,
    body_optional=True,
    replies=(Reply(200, "The running campaign.", responses.Campaign),),
)
def resume(campaign_id: str, body: schemas.LifecycleStep) -> responses.Campaign:
    """POST /v1/campaigns/<id>/resume: 409 unless it is paused."""
    request = campaigns_pb2.ResumeCampaignRequest(id=campaign_id)
    return mapping.campaign(upstream().campaigns.ResumeCampaign(request))


@routes.route(
    "POST",
    "/v1/campaigns/<campaign_id>/cancel",
    summary="Cancel a campaign for good: recipients whose mail has not left get `cancelled`.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.LifecycleStep,
    body_optional=True,
    replies=(Reply(200, "The cancelled campaign.", responses.Campaign),),
)
def cancel(campaign_id: str, body: schemas.LifecycleStep) -> responses.Campaign:
    """POST /v1/campaigns/<id>/cancel: 409 once it is done or cancelled."""
    request = campaigns_pb2.CancelCampaignRequest(id=campaign_id)
    return mapping.campaign(upstream().campaigns.CancelCampaign(request))


@routes.route(
    "POST",
    "/v1/campaigns/<campaign_id>/test-send",
    summary="Mail a draft or scheduled campaign once to the caller's own address.",
    access=Access.COMPONENT,
    role=Role.CAMPAIGN_MANAGER,
    body=schemas.TestSend,
    body_optional=True,
    replies=(Reply(200, "How the test send ended.", responses.TestSendResult),),
)
def test_send(campaign_id: str, body: schemas.TestSend) -> responses.TestSendResult:
    """POST /v1/campaigns/<id>/test-send: a transactional mail, outside the pressure budget.

    409 when the token has no `email` claim or the campaign is past scheduled.
    """
    request = campaigns_pb2.SendTestCampaignRequest(
        id=campaign_id, sample_contact_id=body.sample_contact_id or ""
    )
    return mapping.test_send(upstream().campaigns.SendTestCampaign(request))
