"""The campaign composer: a new draft, or a change of a draft or scheduled campaign.

The form is read into the API's own models (schemas.NewCampaign,
schemas.CampaignChanges) and converted by the API's mapping, so the console
sends exactly what the REST API would. A contact search (a button of the same
form, so nothing typed is lost) lists the component's contacts, with the
user's token, as checkboxes for the audience. The merge-field help lists only
the fields this component may merge: the catalogue's mergeable core fields,
the derived display name and the component's own attributes.
"""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from pydantic import ValidationError

from meshkit.errors import FieldViolation, InvalidArgument
from meshkit.fields import DISPLAY_NAME
from meshkit.roles import Role
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import mapping, schemas
from services.gateway.clients import upstream
from services.gateway.console import campaign_common as common
from services.gateway.console import forms, i18n
from services.gateway.console import session as signed
from services.gateway.console.campaign_common import blueprint
from services.gateway.inputs import invalid_input

MESSAGES = {
    "campaigns.compose.new": ("Nouvelle campagne", "New campaign"),
    "campaigns.compose.edit": ("Modifier « {name} »", "Edit “{name}”"),
    "campaigns.compose.name": ("Nom", "Name"),
    "campaigns.compose.purpose": ("Finalité", "Purpose"),
    "campaigns.compose.purpose_help": (
        "Les finalités actives du catalogue des consentements, par courriel.",
        "The catalogue's active purposes that use email.",
    ),
    "campaigns.compose.priority": ("Priorité (facultative)", "Priority (optional)"),
    "campaigns.compose.priority_help": (
        "Entre deux campagnes au-delà du dernier créneau d'un contact, la plus haute passe.",
        "Of two campaigns past a contact's last slot, the higher one goes.",
    ),
    "campaigns.compose.deadline": ("Échéance (facultative, UTC)", "Deadline (optional, UTC)"),
    "campaigns.compose.audience": ("Audience", "Audience"),
    "campaigns.compose.audience_all": (
        "Tous les contacts de la composante",
        "Every contact of the component",
    ),
    "campaigns.compose.audience_ids": (
        "Les contacts cochés ci-dessous",
        "The contacts ticked below",
    ),
    "campaigns.compose.chosen": ("Contacts choisis", "Chosen contacts"),
    "campaigns.compose.none_chosen": ("Aucun contact choisi.", "No contact chosen."),
    "campaigns.compose.search": ("Chercher des contacts", "Search contacts"),
    "campaigns.compose.search_field": ("Champ", "Field"),
    "campaigns.compose.search_value": ("Valeur exacte (vide : tous)", "Exact value (empty: all)"),
    "campaigns.compose.search_button": ("Chercher", "Search"),
    "campaigns.compose.results": ("Résultats de la recherche", "Search results"),
    "campaigns.compose.no_results": ("Aucun contact trouvé.", "No contact found."),
    "campaigns.compose.subject": ("Objet", "Subject"),
    "campaigns.compose.body": ("Corps du message", "Message body"),
    "campaigns.compose.merge_help": (
        "Champs de fusion que vous pouvez utiliser, écrits {{ nom }} :",
        "Merge fields you may use, written {{ name }}:",
    ),
    "campaigns.compose.merge_table": ("Champs de fusion", "Merge fields"),
    "campaigns.compose.merge_field": ("Champ", "Field"),
    "campaigns.compose.merge_label": ("Libellé", "Label"),
    "campaigns.compose.display_name": ("Nom affiché", "Display name"),
    "campaigns.compose.save": ("Enregistrer le brouillon", "Save the draft"),
    "campaigns.compose.save_changes": ("Enregistrer les modifications", "Save the changes"),
    "campaigns.compose.test_help": (
        "L'envoi de test part à votre propre adresse, tel que la campagne est enregistrée.",
        "The test send goes to your own address, as the campaign is saved.",
    ),
    "campaigns.compose.bad_priority": (
        "Un nombre entier est attendu.",
        "A whole number is expected.",
    ),
}
i18n.register(MESSAGES)

SEARCH_FIELDS = ("email", "last_name", "first_name", "organisation")
_MAX_CATALOGUE_PAGES = 20
_SEARCH_PAGE = 25


def _purposes() -> list[tuple[str, str]]:
    """(key, label) of the active purposes that use email, as consent lists them."""
    found: list[tuple[str, str]] = []
    token = ""
    for _ in range(_MAX_CATALOGUE_PAGES):
        reply = upstream().consent.ListPurposes(
            consent_pb2.ListPurposesRequest(page_size=1000, page_token=token)
        )
        for purpose in reply.purposes:
            if purpose.active and consent_pb2.CHANNEL_EMAIL in purpose.channels:
                label = purpose.label_fr if i18n.language() == "fr" else purpose.label_en
                found.append((purpose.key, f"{label or purpose.key} ({purpose.key})"))
        token = reply.next_page_token
        if not token:
            break
    return found


def merge_fields(component: str) -> list[tuple[str, str]]:
    """(field, label) of every field this component may merge into its messages."""
    fields = [(DISPLAY_NAME, i18n.translate("campaigns.compose.display_name"))]
    token = ""
    for _ in range(_MAX_CATALOGUE_PAGES):
        reply = upstream().contacts.GetCatalogue(
            contacts_pb2.GetCatalogueRequest(page_size=1000, page_token=token)
        )
        for item in reply.fields:
            if item.mergeable and item.component_id in ("", component):
                label = item.label_fr if i18n.language() == "fr" else item.label_en
                fields.append((item.field, label or item.field))
        token = reply.next_page_token
        if not token:
            break
    return fields


def _label(contact: contacts_pb2.Contact) -> str:
    """How a search result is named: what contacts returned for this user, else its id."""
    for name in (DISPLAY_NAME, "email", "private_email"):
        if name in contact.fields and contact.fields[name].value:
            return contact.fields[name].value
    return contact.id


def _search(values: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """One page of the component's contacts matching the search box."""
    field = values["search_field"] if values["search_field"] in SEARCH_FIELDS else "email"
    value = values["search_value"].strip()
    filters = [contacts_pb2.FieldFilter(field=field, equals=value)] if value else []
    try:
        reply = common.rpc(
            upstream().contacts.SearchContacts,
            contacts_pb2.SearchContactsRequest(filters=filters, page_size=_SEARCH_PAGE),
        )
    except InvalidArgument as error:
        return [], {"search_value": error.detail}
    return [(c.id, _label(c)) for c in reply.contacts], {}


def _typed() -> dict[str, Any]:
    form = request.form
    ids = list(dict.fromkeys(i.strip() for i in form.getlist("contact_ids") if i.strip()))
    return {
        "name": form.get("name", ""),
        "purpose": form.get("purpose", ""),
        "priority": form.get("priority", "").strip(),
        "deadline": form.get("deadline", "").strip(),
        "audience": "all" if form.get("audience") == "all" else "contacts",
        "contact_ids": ids,
        "subject_template": form.get("subject_template", ""),
        "body_template": form.get("body_template", ""),
        "search_field": form.get("search_field", "email"),
        "search_value": form.get("search_value", ""),
    }


def _body(values: dict[str, Any]) -> dict[str, Any]:
    """The form as the API's JSON body; priority and deadline converted or a field error."""
    body: dict[str, Any] = {
        "name": values["name"],
        "purpose": values["purpose"],
        "subject_template": values["subject_template"],
        "body_template": values["body_template"],
        "audience": (
            {"all_of_component": True}
            if values["audience"] == "all"
            else {"contact_ids": values["contact_ids"]}
        ),
    }
    if values["priority"]:
        try:
            body["priority"] = int(values["priority"])
        except ValueError:
            raise InvalidArgument(
                "priority: not a number",
                [FieldViolation("priority", i18n.translate("campaigns.compose.bad_priority"))],
            ) from None
    body["deadline"] = common.parse_local_time("deadline", values["deadline"])
    return body


def _render(
    values: dict[str, Any],
    campaign: Any = None,
    errors: dict[str, str] | None = None,
    results: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    html = render_template(
        "console/campaigns/compose.html",
        values=values,
        campaign=campaign,
        errors=errors or {},
        results=results,
        purposes=_purposes(),
        fields=merge_fields(str(g.principal.component)),
        search_fields=SEARCH_FIELDS,
        ui=common,
    )
    return html, status


def _empty() -> dict[str, Any]:
    return {
        "name": "",
        "purpose": "",
        "priority": "",
        "deadline": "",
        "audience": "contacts",
        "contact_ids": [],
        "subject_template": "",
        "body_template": "",
        "search_field": "email",
        "search_value": "",
    }


@blueprint.get("/new")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def new() -> tuple[str, int]:
    return _render(_empty())


@blueprint.post("/new")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def create() -> Any:
    values = _typed()
    if request.form.get("action") == "search":
        results, errors = _search(values)
        return _render(values, errors=errors, results=results)
    try:
        body = _body(values)
        if body["deadline"] is None:
            del body["deadline"]
        try:
            model = schemas.NewCampaign.model_validate(body)
        except ValidationError as error:
            raise invalid_input(error) from None
        created = common.rpc(upstream().campaigns.CreateCampaign, mapping.new_campaign(model))
    except InvalidArgument as error:
        return _render(values, errors=forms.form_errors(error, "body", forms.top_level), status=400)
    return redirect(url_for(".show", campaign_id=created.id), 303)


def _values_of(campaign: Any) -> dict[str, Any]:
    audience = campaign.audience
    return {
        **_empty(),
        "name": campaign.name,
        "purpose": campaign.purpose,
        "priority": str(campaign.priority or ""),
        "deadline": (campaign.deadline or "")[:16],
        "audience": "all" if audience is not None and audience.all_of_component else "contacts",
        "contact_ids": list(audience.contact_ids or []) if audience is not None else [],
        "subject_template": campaign.subject_template,
        "body_template": campaign.body_template,
    }


@blueprint.get("/<campaign_id>/edit")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def edit(campaign_id: str) -> tuple[str, int]:
    campaign = common.load(campaign_id)
    return _render(_values_of(campaign), campaign=campaign)


@blueprint.post("/<campaign_id>/edit")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def update(campaign_id: str) -> Any:
    campaign = common.load(campaign_id)
    values = _typed()
    if request.form.get("action") == "search":
        results, errors = _search(values)
        return _render(values, campaign=campaign, errors=errors, results=results)
    try:
        body = _body(values)
        if not values["priority"]:
            body.pop("priority", None)
        try:
            changes = schemas.CampaignChanges.model_validate(body)
        except ValidationError as error:
            raise invalid_input(error) from None
        common.rpc(
            upstream().campaigns.UpdateCampaign, mapping.campaign_changes(campaign_id, changes)
        )
    except InvalidArgument as error:
        return _render(
            values,
            campaign=campaign,
            errors=forms.form_errors(error, "body", forms.top_level),
            status=400,
        )
    return redirect(url_for(".show", campaign_id=campaign_id), 303)
