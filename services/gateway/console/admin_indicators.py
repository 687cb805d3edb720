"""Console area, administration: the dimensions indicators are grouped by, and the
publication rules (k contacts, p% dominance) every published figure obeys.

Both call contacts with the signed-in administrator's token (PutDimension,
DeleteDimension, SetDisclosureRules are for admins; contacts decides again). Every form is
a POST with the CSRF token and redirects after success; a refusal shows the form again
with each violation next to its input.
"""

from __future__ import annotations

from typing import Any

import grpc
from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from meshkit.errors import FieldViolation, InvalidArgument, NotFound
from meshkit.grpc_client import domain_error
from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway.clients import upstream
from services.gateway.console import forms, i18n
from services.gateway.console import session as signed

blueprint = Blueprint("admin_indicators", __name__, url_prefix="/admin/indicators")

SOURCES = {
    "field": pb.DIMENSION_SOURCE_FIELD,
    "year": pb.DIMENSION_SOURCE_YEAR,
    "kind": pb.DIMENSION_SOURCE_KIND,
    "component": pb.DIMENSION_SOURCE_COMPONENT,
}
SOURCE_WORDS = {number: word for word, number in SOURCES.items()}
DIMENSION_INPUTS = ("id", "label_fr", "label_en", "source", "field")
RULE_INPUTS = ("k", "p")

MESSAGES = {
    "admin.indicators": ("Indicateurs : dimensions et règles", "Indicators: dimensions and rules"),
    "adm.dim.title": ("Dimensions des indicateurs", "Indicator dimensions"),
    "adm.dim.intro": (
        "Les indicateurs peuvent être ventilés par ces dimensions (au plus trois à la fois).",
        "Indicators may be broken down by these dimensions (three at most at once).",
    ),
    "adm.dim.none": ("Aucune dimension.", "No dimension yet."),
    "adm.dim.caption": ("Dimensions définies", "Defined dimensions"),
    "adm.dim.id": ("Identifiant", "Id"),
    "adm.dim.id_help": (
        "Une lettre minuscule puis jusqu'à 39 caractères parmi a-z, 0-9 et _.",
        "A lower-case letter then up to 39 characters among a-z, 0-9 and _.",
    ),
    "adm.dim.label_fr": ("Libellé en français", "French label"),
    "adm.dim.label_en": ("Libellé en anglais", "English label"),
    "adm.dim.source": ("Source", "Source"),
    "adm.dim.source.field": ("Valeur d'un champ", "A field's value"),
    "adm.dim.source.year": ("Année d'un champ date", "Year of a date field"),
    "adm.dim.source.kind": ("Personne ou entreprise", "Person or company"),
    "adm.dim.source.component": ("Composante détentrice", "Holding component"),
    "adm.dim.field": ("Champ (source champ ou année)", "Field (field or year source)"),
    "adm.dim.actions": ("Actions", "Actions"),
    "adm.dim.edit": ("Modifier {id}", "Edit {id}"),
    "adm.dim.delete": ("Supprimer {id}", "Delete {id}"),
    "adm.dim.new": ("Nouvelle dimension", "New dimension"),
    "adm.dim.editing": ("Modifier la dimension {id}", "Edit dimension {id}"),
    "adm.dim.save": ("Enregistrer la dimension", "Save the dimension"),
    "adm.dim.saved": ("Dimension enregistrée.", "Dimension saved."),
    "adm.dim.deleted": ("Dimension supprimée.", "Dimension deleted."),
    "adm.rules.title": ("Règles de publication", "Publication rules"),
    "adm.rules.intro": (
        "Une case n'est publiée que si elle couvre au moins k contacts et {m} composantes,"
        " et si aucun contact ni aucune composante n'y contribue pour plus de p %.",
        "A cell is published only when it covers at least k contacts and {m} components,"
        " and no contact nor component contributes more than p% of it.",
    ),
    "adm.rules.k": ("k : contacts par case, au minimum", "k: contacts per cell, at least"),
    "adm.rules.p": ("p : part maximale d'un contributeur (%)", "p: a contributor's top share (%)"),
    "adm.rules.save": ("Enregistrer les règles", "Save the rules"),
    "adm.rules.saved": ("Règles enregistrées.", "Rules saved."),
    "adm.rules.updated": ("Modifiées par {who} le {when}", "Changed by {who} on {when}"),
    "adm.rules.whole": ("Un nombre entier est attendu.", "A whole number is expected."),
}
i18n.register(MESSAGES)


def _call(method: Any, message: Any) -> Any:
    try:
        return method(message)
    except grpc.RpcError as error:
        raise domain_error(error) from None


def _dimensions() -> list[pb.Dimension]:
    return list(_call(upstream().contacts.ListDimensions, pb.ListDimensionsRequest()).dimensions)


def _typed(dimension: pb.Dimension) -> dict[str, str]:
    return {
        "id": dimension.id,
        "label_fr": dimension.label_fr,
        "label_en": dimension.label_en,
        "source": SOURCE_WORDS.get(dimension.source, ""),
        "field": dimension.field,
    }


def _dimensions_page(
    typed: dict[str, str], errors: dict[str, str], editing: str = "", status: int = 200
) -> Response:
    html = render_template(
        "console/admin_indicators/dimensions.html",
        dimensions=[_typed(d) for d in _dimensions()],
        typed=typed,
        errors=errors,
        editing=editing,
        done=request.args.get("done", "") if request.method == "GET" else "",
        source_options=[(word, i18n.translate(f"adm.dim.source.{word}")) for word in SOURCES],
    )
    return Response(html, status, mimetype="text/html")


@blueprint.get("/dimensions")
@signed.role_required(Role.ADMIN, component=False)
def dimensions() -> Response:
    editing = request.args.get("edit", "")
    known = {d.id: d for d in _dimensions()} if editing else {}
    if editing and editing not in known:
        raise NotFound("no such dimension")
    typed = _typed(known[editing]) if editing else {"source": "field"}
    return _dimensions_page(typed, {}, editing)


@blueprint.post("/dimensions")
@signed.role_required(Role.ADMIN, component=False)
def save_dimension() -> Response:
    typed = {name: request.form.get(name, "").strip() for name in DIMENSION_INPUTS}
    editing = request.form.get("editing", "")
    dimension = pb.Dimension(
        id=typed["id"],
        label_fr=typed["label_fr"],
        label_en=typed["label_en"],
        source=SOURCES.get(typed["source"], pb.DIMENSION_SOURCE_UNSPECIFIED),
        field=typed["field"],
    )
    try:
        _call(upstream().contacts.PutDimension, dimension)
    except InvalidArgument as error:
        errors = forms.form_errors(error, "id", DIMENSION_INPUTS)
        return _dimensions_page(typed, errors, editing, 400)
    return redirect(url_for(".dimensions", done="saved"), 303)


@blueprint.post("/dimensions/<dimension_id>/delete")
@signed.role_required(Role.ADMIN, component=False)
def delete_dimension(dimension_id: str) -> Response:
    _call(upstream().contacts.DeleteDimension, pb.DeleteDimensionRequest(id=dimension_id))
    return redirect(url_for(".dimensions", done="deleted"), 303)


def _rules_page(typed: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    current = _call(upstream().contacts.GetDisclosureRules, pb.GetDisclosureRulesRequest())
    html = render_template(
        "console/admin_indicators/rules.html",
        current=current,
        typed=typed or {"k": str(current.k), "p": str(current.p)},
        errors=errors,
        saved=request.method == "GET" and request.args.get("saved") == "1",
    )
    return Response(html, status, mimetype="text/html")


@blueprint.get("/rules")
@signed.role_required(Role.ADMIN, component=False)
def rules() -> Response:
    return _rules_page({}, {})


@blueprint.post("/rules")
@signed.role_required(Role.ADMIN, component=False)
def save_rules() -> Response:
    typed = {name: request.form.get(name, "").strip() for name in RULE_INPUTS}
    try:
        values = {name: _whole(name, typed[name]) for name in RULE_INPUTS}
        current = _call(upstream().contacts.GetDisclosureRules, pb.GetDisclosureRulesRequest())
        asked = pb.DisclosureRules(
            k=values["k"], p=values["p"], min_components=current.min_components
        )
        _call(upstream().contacts.SetDisclosureRules, asked)
    except InvalidArgument as error:
        return _rules_page(typed, forms.form_errors(error, "k", RULE_INPUTS), 400)
    return redirect(url_for(".rules", saved=1), 303)


def _whole(name: str, text: str) -> int:
    """A form's whole number (an int32), or InvalidArgument on `name`."""
    try:
        value = int(text)
    except ValueError:
        value = -(2**31) - 1
    if not -(2**31) <= value < 2**31:
        raise InvalidArgument(name, [FieldViolation(name, i18n.translate("adm.rules.whole"))])
    return value
