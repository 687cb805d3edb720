"""Console area: the data-protection officer's pages.

Privacy requests (list, detail, opening one) belong to the grouping's DPO (a
`dpo` without a component): consent refuses anyone else, and the console shows
that refusal as the API's 403. The audit of sensitive reads belongs to a
component's DPO: contacts lists only the reads of values that component owns.
Consent receipts are readable by any DPO (and by the recording component's
staff): consent answers 404 for anyone else, as for an unknown id.

Every call goes upstream with the signed-in DPO's own token; nothing here
decides who sees what.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from meshkit.errors import InvalidArgument, NotFound
from meshkit.grpc_client import domain_error
from meshkit.roles import Role
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import mapping, privacy_requests
from services.gateway.clients import upstream
from services.gateway.console import forms, i18n
from services.gateway.console import session as signed

blueprint = Blueprint("privacy", __name__, url_prefix="/privacy")
Reply = TypeVar("Reply")

PAGE_SIZE = 25
DUE_SOON_DAYS = 7
KINDS = ("access", "erasure")  # a rectification carries values: the API opens those
STATUSES = ("open", "in_progress", "done", "failed")
FINISHED = ("done", "failed")

MESSAGES = {
    "privacy.title": ("Protection des données", "Data protection"),
    "privacy.intro.grouping": (
        "Délégué à la protection des données du groupement : demandes des personnes et reçus "
        "de consentement.",
        "The grouping's data-protection officer: people's requests and consent receipts.",
    ),
    "privacy.intro.component": (
        "Délégué à la protection des données de la composante {component} : lectures "
        "sensibles des valeurs de la composante et reçus de consentement.",
        "Data-protection officer of component {component}: sensitive reads of the "
        "component's values and consent receipts.",
    ),
    "privacy.requests.title": ("Demandes des personnes", "Privacy requests"),
    "privacy.requests.caption": (
        "Demandes, les plus récentes d'abord",
        "Requests, newest first",
    ),
    "privacy.requests.empty": ("Aucune demande.", "No request."),
    "privacy.requests.new": ("Ouvrir une demande", "Open a request"),
    "privacy.requests.filter": ("Filtrer", "Filter"),
    "privacy.requests.any_status": ("Tous les statuts", "Any status"),
    "privacy.requests.status_filter": ("Statut", "Status"),
    "privacy.col.id": ("Demande", "Request"),
    "privacy.col.kind": ("Type", "Kind"),
    "privacy.col.contact": ("Contact", "Contact"),
    "privacy.col.status": ("Statut", "Status"),
    "privacy.col.opened": ("Ouverte le", "Opened"),
    "privacy.col.deadline": ("Échéance", "Deadline"),
    "privacy.col.left": ("Jours restants", "Days left"),
    "privacy.days_left": ("{days} j", "{days} d"),
    "privacy.overdue": ("En retard de {days} j", "Overdue by {days} d"),
    "privacy.due_soon": ("Échéance proche", "Due soon"),
    "privacy.finished": ("Terminée", "Finished"),
    "privacy.erased": ("(effacé)", "(erased)"),
    "privacy.kind.access": ("Accès", "Access"),
    "privacy.kind.erasure": ("Effacement", "Erasure"),
    "privacy.kind.rectification": ("Rectification", "Rectification"),
    "privacy.status.open": ("Ouverte", "Open"),
    "privacy.status.in_progress": ("En cours", "In progress"),
    "privacy.status.done": ("Faite", "Done"),
    "privacy.status.failed": ("Échouée", "Failed"),
    "privacy.status.pending": ("En attente", "Pending"),
    "privacy.request.title": ("Demande {id}", "Request {id}"),
    "privacy.request.opened_by": ("Ouverte par", "Opened by"),
    "privacy.request.finished_at": ("Terminée le", "Finished"),
    "privacy.request.steps": ("Avancement par service", "Progress per service"),
    "privacy.request.audit": ("Journal de la demande", "The request's trail"),
    "privacy.request.export": ("Télécharger l'export (JSON)", "Download the export (JSON)"),
    "privacy.request.back": ("Toutes les demandes", "All requests"),
    "privacy.step.part": ("Service", "Service"),
    "privacy.step.status": ("État", "Status"),
    "privacy.step.attempts": ("Tentatives", "Attempts"),
    "privacy.step.last_attempt": ("Dernière tentative", "Last attempt"),
    "privacy.step.outcome": ("Dernier résultat", "Last outcome"),
    "privacy.part.suppression": ("Liste d'opposition", "Suppression list"),
    "privacy.part.contacts": ("Contacts", "Contacts"),
    "privacy.part.consent": ("Consentement", "Consent"),
    "privacy.part.campaigns": ("Campagnes", "Campaigns"),
    "privacy.audit.at": ("Quand", "When"),
    "privacy.audit.actor": ("Qui", "Who"),
    "privacy.audit.action": ("Action", "Action"),
    "privacy.open.title": ("Ouvrir une demande", "Open a request"),
    "privacy.open.help": (
        "L'échéance est fixée à un mois après l'ouverture. Une rectification se fait par l'API.",
        "The deadline is one month after opening. A rectification goes through the API.",
    ),
    "privacy.open.kind": ("Type de demande", "Kind of request"),
    "privacy.open.contact_id": ("Identifiant du contact", "Contact id"),
    "privacy.open.contact_help": (
        "L'identifiant (UUID) du contact concerné, jamais son nom ni son adresse.",
        "The contact's id (a UUID), never their name or address.",
    ),
    "privacy.open.submit": ("Ouvrir la demande", "Open the request"),
    "privacy.open.bad_kind": ("Choisissez un type de demande.", "Choose a kind of request."),
    "privacy.open.bad_contact": (
        "Saisissez l'identifiant d'un contact (UUID).",
        "Enter a contact's id (a UUID).",
    ),
    "privacy.open.unknown_contact": (
        "Aucun contact ne porte cet identifiant.",
        "No contact has this id.",
    ),
    "privacy.receipt.unknown": (
        "Aucun reçu que vous puissiez lire ne porte cet identifiant.",
        "No receipt you may read has this id.",
    ),
    "privacy.reads.title": ("Lectures sensibles", "Sensitive reads"),
    "privacy.reads.intro": (
        "Chaque affichage d'une valeur protégée appartenant à la composante {component}, "
        "du plus ancien au plus récent.",
        "Every time a protected value owned by component {component} was shown, oldest first.",
    ),
    "privacy.reads.caption": ("Lectures des valeurs protégées", "Reads of protected values"),
    "privacy.reads.empty": ("Aucune lecture enregistrée.", "No read recorded."),
    "privacy.reads.contact_filter": (
        "Identifiant du contact (facultatif)",
        "Contact id (optional)",
    ),
    "privacy.reads.filter": ("Filtrer", "Filter"),
    "privacy.reads.clear": ("Tout afficher", "Show all"),
    "privacy.reads.at": ("Quand", "When"),
    "privacy.reads.subject": ("Lecteur", "Reader"),
    "privacy.reads.component": ("Pour la composante", "For component"),
    "privacy.reads.contact": ("Contact", "Contact"),
    "privacy.reads.field": ("Champ", "Field"),
    "privacy.reads.route": ("Opération", "Operation"),
    "privacy.receipt.title": ("Reçus de consentement", "Consent receipts"),
    "privacy.receipt.help": (
        "L'identifiant de l'événement d'accord (renvoyé à l'enregistrement du consentement).",
        "The id of the grant event (returned when the consent was recorded).",
    ),
    "privacy.receipt.event_id": ("Identifiant de l'événement", "Event id"),
    "privacy.receipt.show": ("Afficher le reçu", "Show the receipt"),
    "privacy.receipt.heading": ("Reçu {id}", "Receipt {id}"),
    "privacy.receipt.download": (
        "Télécharger le reçu signé (JWT)",
        "Download the signed receipt (JWT)",
    ),
    "privacy.receipt.key_id": ("Clé de signature", "Signing key"),
    "privacy.receipt.version": ("Version", "Version"),
    "privacy.receipt.jurisdiction": ("Juridiction", "Jurisdiction"),
    "privacy.receipt.timestamp": ("Consentement donné le", "Consent given"),
    "privacy.receipt.method": ("Mode de collecte", "Collection method"),
    "privacy.receipt.language": ("Langue", "Language"),
    "privacy.receipt.principal": ("Personne (identifiant)", "Person (id)"),
    "privacy.receipt.controllers": ("Responsables du traitement", "Controllers"),
    "privacy.receipt.controller": ("Responsable", "Controller"),
    "privacy.receipt.policy": ("Politique de confidentialité", "Privacy policy"),
    "privacy.receipt.sensitive": ("Données sensibles", "Sensitive data"),
    "privacy.receipt.yes": ("oui", "yes"),
    "privacy.receipt.no": ("non", "no"),
    "privacy.receipt.services": ("Services et finalités", "Services and purposes"),
    "privacy.receipt.service": ("Service", "Service"),
    "privacy.receipt.purpose": ("Finalité", "Purpose"),
    "privacy.receipt.category": ("Catégorie", "Category"),
    "privacy.receipt.consent_type": ("Type de consentement", "Consent type"),
    "privacy.receipt.pii": ("Données concernées", "Personal data"),
    "privacy.receipt.channel": ("Canal", "Channel"),
    "privacy.receipt.notice": ("Texte présenté", "Notice shown"),
    "privacy.receipt.termination": ("Fin", "Termination"),
    "privacy.receipt.third_party": ("Communication à des tiers", "Third-party disclosure"),
    "privacy.receipt.on_behalf": ("Pour le compte de", "On behalf of"),
    "privacy.receipt.contact": ("Contact", "Contact"),
}
i18n.register(MESSAGES)


@dataclass(frozen=True)
class Due:
    """How a request stands against its deadline: days left, and how to flag it."""

    days: int
    flag: str  # "overdue", "soon", "finished" or ""


def due(status: str, deadline: str, now: datetime | None = None) -> Due:
    """Whole days left before `deadline` (negative once passed); finished ones are not flagged."""
    moment = now or datetime.now(UTC)
    left = (_parse(deadline) - moment).total_seconds() / 86400
    days = math.ceil(left) if left > 0 else -math.ceil(-left)
    if status in FINISHED:
        return Due(days, "finished")
    if left < 0:
        return Due(days, "overdue")
    if days <= DUE_SOON_DAYS:
        return Due(days, "soon")
    return Due(days, "")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def day(stamp: str | None) -> str:
    """`2026-11-29T10:00:00.123Z` -> `2026-11-29` (UTC)."""
    return _parse(stamp).strftime("%Y-%m-%d") if stamp else ""


def moment(stamp: str | None) -> str:
    """`2026-11-29T10:00:00.123Z` -> `2026-11-29 10:00 UTC`."""
    return _parse(stamp).strftime("%Y-%m-%d %H:%M UTC") if stamp else ""


@blueprint.app_template_filter("privacy_day")
def _day_filter(stamp: str | None) -> str:
    return day(stamp)


@blueprint.app_template_filter("receipt_time")
def _receipt_time_filter(seconds: Any) -> str:
    """A receipt's `consentTimestamp` (seconds since the epoch) as a UTC moment."""
    if not isinstance(seconds, int | float):
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


@blueprint.app_template_filter("privacy_moment")
def _moment_filter(stamp: str | None) -> str:
    return moment(stamp)


# --- The area's landing page --------------------------------------------------------------


@blueprint.get("/")
@signed.role_required(Role.DPO, component=False)
def index() -> str:
    return render_template("console/privacy/index.html")


# --- Privacy requests (the grouping's DPO) --------------------------------------------------


@blueprint.get("/requests")
@signed.role_required(Role.DPO, component=False)
def requests() -> str:
    status = request.args.get("status", "")
    if status and status not in STATUSES:
        status = ""
    token = request.args.get("page_token", "")
    reply = upstream().consent.ListPrivacyRequests(
        consent_pb2.ListPrivacyRequestsRequest(
            status=mapping._value(
                consent_pb2.PrivacyRequestStatus, privacy_requests.STATUS_PREFIX, status or None
            ),
            page_size=PAGE_SIZE,
            page_token=token,
        )
    )
    rows = [privacy_requests.privacy_request(r) for r in reply.requests]
    listed = [(row, due(row.status, row.deadline)) for row in rows]
    next_url = (
        url_for(".requests", status=status or None, page_token=reply.next_page_token)
        if reply.next_page_token
        else None
    )
    first_url = url_for(".requests", status=status or None) if token else None
    return render_template(
        "console/privacy/requests.html",
        listed=listed,
        status=status,
        statuses=STATUSES,
        next_url=next_url,
        first_url=first_url,
    )


@blueprint.get("/requests/new")
@signed.role_required(Role.DPO, component=False)
def new_request() -> str:
    return render_template(
        "console/privacy/new_request.html", form={}, errors={}, kinds=_kind_options()
    )


@blueprint.post("/requests/new")
@signed.role_required(Role.DPO, component=False)
def open_request() -> Any:
    form = {"kind": request.form.get("kind", ""), "contact_id": request.form.get("contact_id", "")}
    form["contact_id"] = form["contact_id"].strip()
    errors: dict[str, str] = {}
    if form["kind"] not in KINDS:
        errors["kind"] = i18n.translate("privacy.open.bad_kind")
    if not form["contact_id"]:
        errors["contact_id"] = i18n.translate("privacy.open.bad_contact")
    if not errors:
        try:
            kind = mapping._value(
                consent_pb2.PrivacyRequestKind, privacy_requests.KIND_PREFIX, form["kind"]
            )
            asked = consent_pb2.OpenPrivacyRequestRequest(kind=kind, contact_id=form["contact_id"])
            opened = _refusals(lambda: upstream().consent.OpenPrivacyRequest(asked))
        except InvalidArgument as refused:
            errors = forms.form_errors(refused, "contact_id", {"kind", "contact_id"})
        except NotFound:
            errors = {"contact_id": i18n.translate("privacy.open.unknown_contact")}
        else:
            return redirect(url_for(".request_detail", request_id=opened.id), 303)
    html = render_template(
        "console/privacy/new_request.html", form=form, errors=errors, kinds=_kind_options()
    )
    return Response(html, 400, mimetype="text/html")


@blueprint.get("/requests/<request_id>")
@signed.role_required(Role.DPO, component=False)
def request_detail(request_id: str) -> str:
    reply = upstream().consent.GetPrivacyRequest(
        consent_pb2.GetPrivacyRequestRequest(id=request_id)
    )
    found = privacy_requests.privacy_request(reply)
    return render_template(
        "console/privacy/request.html", item=found, due=due(found.status, found.deadline)
    )


@blueprint.get("/requests/<request_id>/export.json")
@signed.role_required(Role.DPO, component=False)
def request_export(request_id: str) -> Response:
    """The document of a done access request, as a file (consent audits the fetch)."""
    reply = upstream().consent.GetPrivacyExport(consent_pb2.GetPrivacyExportRequest(id=request_id))
    response = Response(reply.document_json, 200, mimetype="application/json")
    name = f"privacy-export-{request_id}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- The audit of sensitive reads (a component's DPO) ----------------------------------------


@blueprint.get("/audit")
@signed.role_required(Role.DPO, component=False)
def audit() -> Any:
    contact_id = request.args.get("contact_id", "").strip()
    token = request.args.get("page_token", "")
    errors: dict[str, str] = {}
    reads: list[contacts_pb2.SensitiveRead] = []
    next_token = ""
    try:
        asked = contacts_pb2.ListSensitiveReadsRequest(
            contact_id=contact_id, page_size=PAGE_SIZE, page_token=token
        )
        reply = _refusals(lambda: upstream().contacts.ListSensitiveReads(asked))
        reads, next_token = list(reply.reads), reply.next_page_token
    except InvalidArgument as refused:
        errors = forms.form_errors(refused, "contact_id", {"contact_id"})
    next_url = (
        url_for(".audit", contact_id=contact_id or None, page_token=next_token)
        if next_token
        else None
    )
    first_url = url_for(".audit", contact_id=contact_id or None) if token else None
    html = render_template(
        "console/privacy/audit.html",
        reads=reads,
        contact_id=contact_id,
        errors=errors,
        next_url=next_url,
        first_url=first_url,
    )
    return Response(html, 400 if errors else 200, mimetype="text/html")


# --- Consent receipts --------------------------------------------------------------------------


@blueprint.get("/receipts")
@signed.role_required(Role.DPO, component=False)
def receipts() -> Any:
    event_id = request.args.get("event_id", "").strip()
    errors: dict[str, str] = {}
    receipt = None
    status = 200
    if event_id:
        try:
            receipt = _receipt(event_id)
        except InvalidArgument as refused:
            errors, status = forms.form_errors(refused, "event_id", {"event_id"}), 400
        except NotFound:
            # Unknown, or another component's grant: consent's one answer for both.
            errors, status = {"event_id": i18n.translate("privacy.receipt.unknown")}, 404
    html = render_template(
        "console/privacy/receipt.html", event_id=event_id, receipt=receipt, errors=errors
    )
    return Response(html, status, mimetype="text/html")


@blueprint.get("/receipts/<event_id>.jwt")
@signed.role_required(Role.DPO, component=False)
def receipt_jwt(event_id: str) -> Response:
    """The signed receipt (compact JWS), as a file."""
    receipt = _receipt(event_id)
    if not receipt.jws:
        abort(404)
    response = Response(receipt.jws, 200, mimetype="application/jwt")
    name = f"consent-receipt-{receipt.receipt_id}.jwt"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _kind_options() -> list[tuple[str, str]]:
    return [("", "—")] + [(kind, i18n.translate(f"privacy.kind.{kind}")) for kind in KINDS]


def _receipt(event_id: str) -> Any:
    asked = consent_pb2.GetReceiptRequest(event_id=event_id)
    return mapping.consent_receipt(_refusals(lambda: upstream().consent.GetReceipt(asked)))


def _refusals(call: Callable[[], Reply]) -> Reply:
    """The call's reply; a refusal as the domain error the service raised (forms catch some)."""
    try:
        return call()
    except grpc.RpcError as error:
        raise domain_error(error) from None
