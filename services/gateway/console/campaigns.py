"""Console area: the campaigns of the signed-in manager's component.

The list, a campaign's page and its lifecycle actions live here; the composer
is in campaign_compose.py, the preview and the delivery report in
campaign_reports.py. Every view calls the campaigns service with the
signed-in user's own token: another component's campaign is a 404 there, so
it is a 404 here too, and a refused move (pausing a draft...) shows the
service's own error page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.wrappers import Response

from meshkit.errors import InvalidArgument
from meshkit.roles import Role
from protos.crm.campaigns.v1 import campaigns_pb2
from services.campaigns.lifecycle import CampaignStatus as S
from services.gateway import mapping, schemas
from services.gateway.clients import upstream
from services.gateway.console import campaign_common as common
from services.gateway.console import forms, i18n
from services.gateway.console import session as signed
from services.gateway.console.campaign_common import blueprint
from services.gateway.inputs import invalid_input

__all__ = ["blueprint"]

MESSAGES = {
    "campaigns.page.status": ("Statut : {status}", "Status: {status}"),
    "campaigns.page.details": ("Détails", "Details"),
    "campaigns.page.counts": ("Résultats par issue", "Outcomes"),
    "campaigns.page.no_counts": ("Aucun destinataire traité.", "No recipient handled yet."),
    "campaigns.page.actions": ("Actions", "Actions"),
    "campaigns.page.audience": ("Audience", "Audience"),
    "campaigns.page.audience_all": ("Toute la composante", "The whole component"),
    "campaigns.page.audience_ids": ("{count} contact(s) choisi(s)", "{count} chosen contact(s)"),
    "campaigns.page.subject": ("Objet", "Subject"),
    "campaigns.page.body": ("Corps", "Body"),
    "campaigns.page.priority": ("Priorité", "Priority"),
    "campaigns.page.deadline": ("Échéance", "Deadline"),
    "campaigns.page.created": ("Créée le", "Created"),
    "campaigns.page.edit": ("Modifier", "Edit"),
    "campaigns.page.preview": ("Aperçu de la portée", "Reach preview"),
    "campaigns.page.report": ("Rapport d'envoi", "Delivery report"),
    "campaigns.page.back": ("Toutes les campagnes", "All campaigns"),
    "campaigns.action.schedule": ("Programmer", "Schedule"),
    "campaigns.action.send_at": ("Date et heure d'envoi (UTC)", "Send date and time (UTC)"),
    "campaigns.action.unschedule": ("Déprogrammer", "Unschedule"),
    "campaigns.action.pause": ("Mettre en pause", "Pause"),
    "campaigns.action.resume": ("Reprendre", "Resume"),
    "campaigns.action.cancel": ("Annuler la campagne", "Cancel the campaign"),
    "campaigns.action.send": ("Envoyer maintenant", "Send now"),
    "campaigns.action.test": ("Envoi de test à moi-même", "Test send to myself"),
    "campaigns.action.done": ("Statut : {status}.", "Status: {status}."),
    "campaigns.test.result": (
        "Envoi de test : {outcome} ({rule}).",
        "Test send: {outcome} ({rule}).",
    ),
}
i18n.register(MESSAGES)


@blueprint.get("/")
@signed.role_required(component=True)  # any role of the component reads
def index() -> str:
    size = common.page_size(request.args.get("page_size"))
    token = request.args.get("page_token", "")
    reply = upstream().campaigns.ListCampaigns(
        campaigns_pb2.ListCampaignsRequest(page_size=size, page_token=token)
    )
    campaigns = [mapping.campaign(c) for c in reply.campaigns]
    next_url = (
        url_for(".index", page_token=reply.next_page_token, page_size=size)
        if reply.next_page_token
        else None
    )
    return render_template(
        "console/campaigns/list.html",
        campaigns=campaigns,
        next_url=next_url,
        first_url=url_for(".index") if token else None,
        manager=_manager(),
        ui=common,
    )


def _manager() -> bool:
    return bool(signed.signed_in().has_role(Role.CAMPAIGN_MANAGER))


def _actions(status: Any) -> set[str]:
    """The moves the lifecycle allows from `status` (the service decides again)."""
    allowed = {
        S.DRAFT: {"edit", "preview", "test", "schedule", "send", "cancel"},
        S.SCHEDULED: {"edit", "preview", "test", "schedule", "unschedule", "send", "cancel"},
        S.RUNNING: {"pause", "cancel", "report"},
        S.PAUSED: {"resume", "cancel", "report"},
        S.DONE: {"report"},
        S.CANCELLED: {"report"},
    }
    return allowed.get(status, set())


def _campaign_page(
    campaign_id: str, errors: dict[str, str] | None = None, send_at: str = ""
) -> Any:
    campaign = common.load(campaign_id)
    html = render_template(
        "console/campaigns/campaign.html",
        campaign=campaign,
        actions=_actions(campaign.status) if _manager() else {"report"},
        counts=common.ordered_counts(campaign.outcome_counts or {}),
        errors=errors or {},
        send_at=send_at,
        ui=common,
    )
    return (html, 400) if errors else html


@blueprint.get("/<campaign_id>")
@signed.role_required(component=True)  # any role of the component reads
def show(campaign_id: str) -> Any:
    return _campaign_page(campaign_id)


def _done(campaign_id: str) -> Response:
    return redirect(url_for(".show", campaign_id=campaign_id), 303)


@blueprint.post("/<campaign_id>/schedule")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def schedule(campaign_id: str) -> Any:
    typed = request.form.get("send_at", "")
    try:
        when = common.parse_local_time("send_at", typed)
        try:
            body = schemas.Schedule.model_validate({"send_at": when})
        except ValidationError as error:
            raise invalid_input(error) from None
        common.rpc(upstream().campaigns.ScheduleCampaign, mapping.schedule(campaign_id, body))
    except InvalidArgument as error:
        return _campaign_page(campaign_id, forms.form_errors(error, "body", forms.top_level), typed)
    return _done(campaign_id)


def _step(call: Callable[[Any], Any], message: Any, campaign_id: str) -> Response:
    call(message)
    return _done(campaign_id)


@blueprint.post("/<campaign_id>/unschedule")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def unschedule(campaign_id: str) -> Response:
    stub = upstream().campaigns
    request_ = campaigns_pb2.UnscheduleCampaignRequest(id=campaign_id)
    return _step(stub.UnscheduleCampaign, request_, campaign_id)


@blueprint.post("/<campaign_id>/pause")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def pause(campaign_id: str) -> Response:
    stub = upstream().campaigns
    return _step(
        stub.PauseCampaign, campaigns_pb2.PauseCampaignRequest(id=campaign_id), campaign_id
    )


@blueprint.post("/<campaign_id>/resume")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def resume(campaign_id: str) -> Response:
    stub = upstream().campaigns
    request_ = campaigns_pb2.ResumeCampaignRequest(id=campaign_id)
    return _step(stub.ResumeCampaign, request_, campaign_id)


@blueprint.post("/<campaign_id>/cancel")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def cancel(campaign_id: str) -> Response:
    stub = upstream().campaigns
    request_ = campaigns_pb2.CancelCampaignRequest(id=campaign_id)
    return _step(stub.CancelCampaign, request_, campaign_id)


@blueprint.post("/<campaign_id>/send")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def send_now(campaign_id: str) -> Response:
    stub = upstream().campaigns
    return _step(stub.SendNow, campaigns_pb2.SendNowRequest(id=campaign_id), campaign_id)


@blueprint.post("/<campaign_id>/test-send")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def test_send(campaign_id: str) -> Response:
    """One mail of the campaign to the signed-in user's own address (the token's claim)."""
    reply = upstream().campaigns.SendTestCampaign(
        campaigns_pb2.SendTestCampaignRequest(id=campaign_id)
    )
    result = mapping.test_send(reply)
    outcome = common.outcome_label(result.outcome)
    flash(i18n.translate("campaigns.test.result", outcome=outcome, rule=result.rule or "—"))
    target = request.form.get("back") == "edit"
    endpoint = ".edit" if target else ".show"
    return redirect(url_for(endpoint, campaign_id=campaign_id), 303)


# The composer, the preview and the report hang on the same blueprint.
from services.gateway.console import campaign_compose, campaign_reports  # noqa: E402

__all__ += ["campaign_compose", "campaign_reports"]
