"""Console area (admin): the pressure policy with its simulation, and the purposes catalogue.

`/admin/pressure` shows the policy in force (rules, minimum gap, quiet hours
and dates), its versions, and a simulation form: a campaign id and the rules
to try (the rules in force, editable, plus an empty row to add one). The
simulation changes nothing, so it is a GET form; its result is a bar chart of
the campaign's recipients mailed now and deferred, under the rules in force
and under the candidate. `/admin/purposes` lists the consent catalogue's
purposes with their labels, channels and retention, their notices and the
legal-basis rules. Every call carries the signed-in admin's token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import grpc
from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from meshkit.errors import InvalidArgument
from meshkit.grpc_client import domain_error
from meshkit.roles import Role
from protos.crm.campaigns.v1 import pressure_pb2
from protos.crm.consent.v1 import consent_pb2
from services.gateway import pressure as pressure_api
from services.gateway.clients import upstream
from services.gateway.console import charts, i18n
from services.gateway.console import session as signed
from services.gateway.console.pressure_panel import SCOPE_WORDS, scope_text, when

blueprint = Blueprint("admin_catalogue", __name__, url_prefix="/admin")

MESSAGES = {
    "catalogue.policy": (
        "Politique en vigueur (version {version})",
        "Policy in force (version {version})",
    ),
    "catalogue.rules": ("Règles de budget", "Budget rules"),
    "catalogue.rule_id": ("Identifiant", "Id"),
    "catalogue.scope": ("Portée", "Scope"),
    "catalogue.scope_value": ("Valeur de portée", "Scope value"),
    "catalogue.max": ("Messages au plus", "At most (messages)"),
    "catalogue.window": ("Fenêtre (secondes)", "Window (seconds)"),
    "catalogue.window_help": (
        "86400 = un jour, 604800 = une semaine.",
        "86400 = one day, 604800 = one week.",
    ),
    "catalogue.min_gap": ("Écart minimal (secondes)", "Minimum gap (seconds)"),
    "catalogue.quiet_hours": ("Heures de silence", "Quiet hours"),
    "catalogue.quiet_hours_value": ("de {start} à {end}", "from {start} to {end}"),
    "catalogue.none": ("aucune", "none"),
    "catalogue.quiet_dates": ("Dates de silence", "Quiet dates"),
    "catalogue.component": ("Composante", "Component"),
    "catalogue.all_components": ("toutes", "all"),
    "catalogue.start": ("Début", "Start"),
    "catalogue.end": ("Fin", "End"),
    "catalogue.label": ("Libellé", "Label"),
    "catalogue.time_zone": ("Fuseau par défaut", "Default time zone"),
    "catalogue.versions": ("Versions", "Versions"),
    "catalogue.version": ("Version", "Version"),
    "catalogue.changed_by": ("Par", "By"),
    "catalogue.changed_at": ("Le", "On"),
    "catalogue.note": ("Note", "Note"),
    "catalogue.rule_count": ("Règles", "Rules"),
    "catalogue.from_settings": ("réglages par défaut", "default settings"),
    "catalogue.simulate": ("Simuler des règles", "Simulate rules"),
    "catalogue.simulate_help": (
        "Combien de destinataires de cette campagne seraient différés avec ces règles ? "
        "La simulation ne modifie rien. Videz l'identifiant d'une règle pour la retirer ; "
        "remplissez la ligne vide pour en ajouter une.",
        "How many of this campaign's recipients would be deferred with these rules? "
        "The simulation changes nothing. Clear a rule's id to remove it; fill the empty "
        "row to add one.",
    ),
    "catalogue.campaign_id": ("Identifiant de la campagne", "Campaign id"),
    "catalogue.rule_n": ("Règle {n}", "Rule {n}"),
    "catalogue.new_rule": ("Nouvelle règle", "New rule"),
    "catalogue.run": ("Simuler", "Simulate"),
    "catalogue.result": ("Résultat de la simulation", "Simulation result"),
    "catalogue.result_desc": (
        "Destinataires envoyés maintenant et différés, règles en vigueur contre règles proposées "
        "({audience} destinataires).",
        "Recipients mailed now and deferred, rules in force against candidate rules "
        "({audience} recipients).",
    ),
    "catalogue.current_send": ("Actuel : envoyés", "Now: sent"),
    "catalogue.current_deferred": ("Actuel : différés", "Now: deferred"),
    "catalogue.candidate_send": ("Essai : envoyés", "Try: sent"),
    "catalogue.candidate_deferred": ("Essai : différés", "Try: deferred"),
    "catalogue.by_rule": ("Différés par règle", "Deferred by rule"),
    "catalogue.rule_code": ("Règle", "Rule"),
    "catalogue.in_force": ("En vigueur", "In force"),
    "catalogue.candidate": ("Proposées", "Candidate"),
    "catalogue.other": (
        "Non atteints (adhésion, consentement, adresse) : {n} · expirés : {expired} · "
        "plafonnés : {capped}",
        "Not reached (membership, consent, address): {n} · expired: {expired} · capped: {capped}",
    ),
    "catalogue.purposes": ("Finalités", "Purposes"),
    "catalogue.key": ("Clé", "Key"),
    "catalogue.label_fr": ("Libellé (FR)", "Label (FR)"),
    "catalogue.label_en": ("Libellé (EN)", "Label (EN)"),
    "catalogue.channels": ("Canaux", "Channels"),
    "catalogue.retention": ("Conservation (mois)", "Retention (months)"),
    "catalogue.owner": ("Propriétaire", "Owner"),
    "catalogue.grouping": ("groupement", "grouping"),
    "catalogue.marketing": ("Prospection", "Marketing"),
    "catalogue.active": ("Active", "Active"),
    "catalogue.yes": ("oui", "yes"),
    "catalogue.no": ("non", "no"),
    "catalogue.notices": ("Mentions d'information", "Notices"),
    "catalogue.purpose": ("Finalité", "Purpose"),
    "catalogue.language": ("Langue", "Language"),
    "catalogue.published": ("Publiée le", "Published on"),
    "catalogue.text": ("Texte", "Text"),
    "catalogue.basis_rules": ("Bases légales", "Legal bases"),
    "catalogue.channel": ("Canal", "Channel"),
    "catalogue.contact_kind": ("Type de contact", "Contact kind"),
    "catalogue.basis": ("Base légale", "Legal basis"),
    "catalogue.number": ("doit être un nombre entier", "must be a whole number"),
    "catalogue.required": ("est obligatoire", "is required"),
    "catalogue.publish": ("Publier une mention", "Publish a notice"),
    "catalogue.publish_help": (
        "Une nouvelle version s'ajoute aux précédentes, qui restent consultables.",
        "A new version is added; the earlier ones stay readable.",
    ),
    "catalogue.publish_submit": ("Publier", "Publish"),
    "catalogue.empty": ("Aucun élément.", "Nothing yet."),
    "catalogue.more": ("Liste tronquée à la première page.", "List cut at its first page."),
}
i18n.register(MESSAGES)

SCOPES = {word: number for number, word in SCOPE_WORDS.items()}
PAGE = 200
_RULE_PATH = re.compile(r"rules\[(\d+)\]\.(\w+)")


@dataclass
class RuleRow:
    """One row of the simulation form, as typed."""

    id: str = ""
    scope: str = "grouping"
    scope_value: str = ""
    max_messages: str = ""
    window_seconds: str = ""


def _rows_of(policy: pressure_pb2.PressurePolicy) -> list[RuleRow]:
    return [
        RuleRow(
            r.id,
            SCOPE_WORDS.get(r.scope, "grouping"),
            r.scope_value,
            str(r.max_messages),
            str(r.window_seconds),
        )
        for r in policy.rules
    ]


def _rows_from_form(args: Any) -> list[RuleRow]:
    """The rows typed, in order, without those whose id was cleared."""
    indexes = sorted({int(m.group(1)) for k in args if (m := re.fullmatch(r"rules-(\d+)-id", k))})
    rows = []
    for i in indexes:
        row = RuleRow(
            args.get(f"rules-{i}-id", "").strip(),
            args.get(f"rules-{i}-scope", "grouping"),
            args.get(f"rules-{i}-scope_value", "").strip(),
            args.get(f"rules-{i}-max_messages", "").strip(),
            args.get(f"rules-{i}-window_seconds", "").strip(),
        )
        if row.id:
            rows.append(row)
    return rows


def _number(text: str, field: str, errors: dict[str, str]) -> int:
    try:
        return int(text)
    except ValueError:
        errors[field] = i18n.translate("catalogue.number")
        return 0


def _candidate(
    current: pressure_pb2.PressurePolicy, rows: list[RuleRow], gap: str, errors: dict[str, str]
) -> pressure_pb2.PressurePolicy:
    """The policy to try: the rows typed, the gap typed, and the rest of the policy in force."""
    candidate = pressure_pb2.PressurePolicy()
    candidate.CopyFrom(current)
    del candidate.rules[:]
    for index, row in enumerate(rows):
        candidate.rules.add(
            id=row.id,
            scope=SCOPES.get(row.scope, pressure_pb2.PRESSURE_SCOPE_UNSPECIFIED),
            scope_value=row.scope_value,
            max_messages=_number(row.max_messages, f"rules-{index}-max_messages", errors),
            window_seconds=_number(row.window_seconds, f"rules-{index}-window_seconds", errors),
        )
    candidate.min_gap_seconds = _number(gap or "0", "min_gap_seconds", errors)
    return candidate


def _form_field(path: str) -> str:
    """The form field of a violation's path (rules[2].max_messages -> rules-2-max_messages)."""
    return _RULE_PATH.sub(r"rules-\1-\2", path)


def _result_chart(result: pressure_pb2.SimulatePressureResponse) -> Any:
    t = i18n.translate
    bars = [
        charts.Bar("current_send", t("catalogue.current_send"), result.current.would_send, "good"),
        charts.Bar(
            "current_deferred", t("catalogue.current_deferred"), result.current.deferred, "warn"
        ),
        charts.Bar(
            "candidate_send", t("catalogue.candidate_send"), result.candidate.would_send, "good"
        ),
        charts.Bar(
            "candidate_deferred",
            t("catalogue.candidate_deferred"),
            result.candidate.deferred,
            "warn",
        ),
    ]
    return charts.bar_chart(
        t("catalogue.result"), bars, t("catalogue.result_desc", audience=result.audience)
    )


@blueprint.get("/pressure")
@signed.role_required(Role.ADMIN, component=False)
def pressure() -> tuple[str, int] | str | Response:
    stub = pressure_api.stub()
    current = stub.GetPressurePolicy(pressure_pb2.GetPressurePolicyRequest())
    versions = stub.ListPressurePolicyVersions(
        pressure_pb2.ListPressurePolicyVersionsRequest(page_size=20)
    )
    args = request.args
    simulate = "campaign_id" in args
    rows = _rows_from_form(args) if simulate else _rows_of(current.policy)
    gap = args.get("min_gap_seconds", str(current.policy.min_gap_seconds)).strip()
    campaign_id = args.get("campaign_id", "").strip()
    errors: dict[str, str] = {}
    result = None
    chart = None
    status = 200
    if simulate:
        candidate = _candidate(current.policy, rows, gap, errors)
        if not campaign_id:
            errors["campaign_id"] = i18n.translate("catalogue.required")
        if not errors:
            try:
                result = stub.SimulatePressure(
                    pressure_pb2.SimulatePressureRequest(campaign_id=campaign_id, policy=candidate)
                )
            except grpc.RpcError as error:
                problem = domain_error(error)
                if not isinstance(problem, InvalidArgument):
                    raise
                for violation in problem.violations:
                    errors.setdefault(_form_field(violation.field), violation.description)
                if not problem.violations:
                    errors["campaign_id"] = str(problem)
        if errors:
            status = 400
        if result is not None:
            chart = _result_chart(result)
    page = render_template(
        "console/admin_catalogue/pressure.html",
        current=current,
        versions=versions.versions,
        more_versions=bool(versions.next_page_token),
        rows=[*rows, RuleRow()],
        gap=gap,
        campaign_id=campaign_id,
        errors=errors,
        result=result,
        chart=chart,
        scope_text=scope_text,
        scopes=[(word, i18n.translate(f"pressure.scope.{word}", value="…")) for word in SCOPES],
        when=when,
    )
    return (page, status) if status != 200 else page


def _channel(number: int) -> str:
    return consent_pb2.Channel.Name(number).removeprefix("CHANNEL_").lower()  # type: ignore[arg-type]


def _words(enum: Any, number: int, prefix: str) -> str:
    return str(enum.Name(number)).removeprefix(prefix).lower().replace("_", " ")


@blueprint.get("/purposes")
@signed.role_required(Role.ADMIN, component=False)
def purposes() -> str:
    return _purposes_page({}, {}, 200)[0]


@blueprint.post("/purposes/notices")
@signed.role_required(Role.ADMIN, component=False)
def publish_notice() -> Response | tuple[str, int]:
    """Publishes a new version of a purpose's notice (never edited), then shows the list."""
    form = {key: request.form.get(key, "") for key in ("purpose", "language", "text")}
    try:
        upstream().consent.PublishNotice(
            consent_pb2.PublishNoticeRequest(
                purpose=form["purpose"], language=form["language"], text=form["text"]
            )
        )
    except grpc.RpcError as error:
        problem = domain_error(error)
        if not isinstance(problem, InvalidArgument):
            raise
        errors = {v.field: v.description for v in problem.violations} or {"text": str(problem)}
        return _purposes_page(errors, form, 400)
    return redirect(url_for("console.admin_catalogue.purposes"), 303)


def _purposes_page(errors: dict[str, str], typed: dict[str, str], status: int) -> tuple[str, int]:
    consent = upstream().consent
    listed = consent.ListPurposes(
        consent_pb2.ListPurposesRequest(include_inactive=True, page_size=PAGE)
    )
    # Notices are listed per purpose (the catalogue holds a handful of purposes).
    notices: list[consent_pb2.Notice] = []
    more_notices = False
    for purpose in listed.purposes:
        found = consent.ListNotices(
            consent_pb2.ListNoticesRequest(purpose=purpose.key, page_size=PAGE)
        )
        notices += found.notices
        more_notices = more_notices or bool(found.next_page_token)
    rules = consent.ListBasisRules(consent_pb2.ListBasisRulesRequest(page_size=PAGE))
    page = render_template(
        "console/admin_catalogue/purposes.html",
        purposes=listed.purposes,
        notices=notices,
        rules=rules.rules,
        more=bool(listed.next_page_token or more_notices or rules.next_page_token),
        channel=_channel,
        kind=lambda n: _words(consent_pb2.ContactKind, n, "CONTACT_KIND_"),
        basis=lambda n: _words(consent_pb2.LegalBasis, n, "LEGAL_BASIS_"),
        when=when,
        errors=errors,
        typed=typed,
        purpose_options=[(p.key, p.key) for p in listed.purposes if p.active],
        language_options=[("fr", "français"), ("en", "English")],
    )
    return page, status
