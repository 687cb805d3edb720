"""Console area: the grouping's indicators (contacts' Aggregate under disclosure control).

A GET form, so an answer has a URL: a measure (a number field of the catalogue, or none
to count contacts), a statistic, up to three dimensions and a scope. Contacts audits every
Aggregate it answers, so the page asks it only when the form was submitted (`statistic`
in the query string): the bare page shows the form and no figure. The answer is a table
(every cell, the suppressed ones said in words, margins labelled "Total"), a bar chart of
its published interior cells, the rules applied, and a link to the same answer as CSV.
A refusal (no aggregate right, a differencing attack) is contacts' own message, shown
with the API's status (403).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from flask import Blueprint, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from meshkit.errors import FieldViolation, InvalidArgument, PermissionDenied
from meshkit.grpc_client import domain_error
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway.clients import upstream
from services.gateway.console import charts, forms, i18n, tables
from services.gateway.console import session as signed

blueprint = Blueprint("indicators", __name__, url_prefix="/indicators")

MAX_DIMENSIONS = 3
CATALOGUE_PAGE = 1000
MAX_CATALOGUE_CALLS = 5  # number fields are a few dozen: one call in practice

STATISTICS = {
    "count": pb.STATISTIC_COUNT,
    "sum": pb.STATISTIC_SUM,
    "mean": pb.STATISTIC_MEAN,
    "median": pb.STATISTIC_MEDIAN,
    "percentile": pb.STATISTIC_PERCENTILE,
}
SCOPES = {"reach": pb.AGGREGATE_SCOPE_REACH, "grouping": pb.AGGREGATE_SCOPE_GROUPING}
REASONS = {
    pb.SUPPRESSION_REASON_TOO_FEW_CONTACTS: "too_few_contacts",
    pb.SUPPRESSION_REASON_TOO_FEW_COMPONENTS: "too_few_components",
    pb.SUPPRESSION_REASON_DOMINATED: "dominated",
    pb.SUPPRESSION_REASON_COMPLEMENTARY: "complementary",
}
# Form input of each field contacts may name in a violation.
_INPUTS = {
    "measure": "measure",
    "statistic": "statistic",
    "percentile": "percentile",
    "scope": "scope",
    "dimensions": "d1",
    **{f"dimensions[{i}]": f"d{i + 1}" for i in range(MAX_DIMENSIONS)},
}

MESSAGES = {
    "nav.indicators": ("Indicateurs", "Indicators"),
    "ind.title": ("Indicateurs du groupement", "The grouping's indicators"),
    "ind.intro": (
        "Une case n'est publiée que si elle couvre assez de contacts et de composantes et"
        " qu'aucun contributeur ne la domine ; chaque requête est enregistrée.",
        "A cell is published only when it covers enough contacts and components and no"
        " contributor dominates it; every query is recorded.",
    ),
    "ind.measure": ("Mesure", "Measure"),
    "ind.measure_none": ("(aucune : compter les contacts)", "(none: count contacts)"),
    "ind.statistic": ("Statistique", "Statistic"),
    "ind.stat.count": ("Nombre de contacts", "Number of contacts"),
    "ind.stat.sum": ("Somme", "Sum"),
    "ind.stat.mean": ("Moyenne", "Mean"),
    "ind.stat.median": ("Médiane", "Median"),
    "ind.stat.percentile": ("Centile", "Percentile"),
    "ind.percentile": ("Centile (0 à 100)", "Percentile (0 to 100)"),
    "ind.dimension": ("Dimension {n}", "Dimension {n}"),
    "ind.dimension_none": ("(aucune)", "(none)"),
    "ind.scope": ("Périmètre", "Scope"),
    "ind.scope.reach": ("Contacts de ma composante", "My component's contacts"),
    "ind.scope.grouping": ("Tout le groupement", "The whole grouping"),
    "ind.submit": ("Calculer", "Compute"),
    "ind.result": ("Résultat", "Result"),
    "ind.value": ("Valeur", "Value"),
    "ind.total": ("Total", "Total"),
    "ind.empty_value": ("(vide)", "(empty)"),
    "ind.rules": (
        "Règles appliquées : au moins {k} contacts et {m} composantes par case, aucun"
        " contributeur au-delà de {p} %.",
        "Rules applied: at least {k} contacts and {m} components per cell, no contributor"
        " above {p}%.",
    ),
    "ind.csv": ("Télécharger en CSV", "Download as CSV"),
    "ind.chart": ("Cases publiées", "Published cells"),
    "ind.chart_desc": (
        "Valeur de chaque case publiée, hors totaux ; les cases masquées n'y figurent pas.",
        "Value of each published cell, totals aside; hidden cells are not drawn.",
    ),
    "ind.refused": ("Requête refusée ({status})", "Query refused ({status})"),
    "ind.published_count": (
        "{published} case(s) publiée(s) sur {total}.",
        "{published} of {total} cell(s) published.",
    ),
    "ind.reason.too_few_contacts": (
        "masqué : moins de {k} contacts",
        "hidden: fewer than {k} contacts",
    ),
    "ind.reason.too_few_components": (
        "masqué : moins de {m} composantes",
        "hidden: fewer than {m} components",
    ),
    "ind.reason.dominated": (
        "masqué : un contributeur dépasse {p} %",
        "hidden: one contributor exceeds {p}%",
    ),
    "ind.reason.complementary": (
        "masqué : protège une autre case masquée",
        "hidden: protects another hidden cell",
    ),
    "ind.reason.unknown": ("masqué", "hidden"),
    "ind.bad_statistic": ("Choisissez une statistique.", "Choose a statistic."),
    "ind.bad_percentile": ("Un nombre de 0 à 100.", "A number from 0 to 100."),
    "ind.bad_measure": (
        "Choisissez une mesure pour cette statistique.",
        "Choose a measure for this statistic.",
    ),
    "ind.twice": ("Cette dimension est déjà choisie.", "This dimension is already chosen."),
    "ind.bad_scope": ("Choisissez un périmètre.", "Choose a scope."),
}
i18n.register(MESSAGES)


# --- The form ---------------------------------------------------------------------------------


@dataclass
class IndicatorForm:
    """What the form's query string holds, kept to show it again."""

    measure: str = ""
    statistic: str = ""
    percentile: str = ""
    dimensions: list[str] = field(default_factory=list)  # one per select, "" when unused
    scope: str = ""
    submitted: bool = False

    @classmethod
    def read(cls, args: MultiDict[str, str]) -> IndicatorForm:
        return cls(
            measure=args.get("measure", "").strip(),
            statistic=args.get("statistic", "").strip(),
            percentile=args.get("percentile", "").strip(),
            dimensions=[args.get(f"d{i}", "").strip() for i in range(1, MAX_DIMENSIONS + 1)],
            scope=args.get("scope", "").strip(),
            submitted="statistic" in args,
        )

    def query(self) -> pb.AggregateRequest:
        """The Aggregate request this form asks, or InvalidArgument naming its inputs."""
        violations: list[FieldViolation] = []
        statistic = STATISTICS.get(self.statistic)
        if statistic is None:
            violations.append(FieldViolation("statistic", i18n.translate("ind.bad_statistic")))
        elif statistic != pb.STATISTIC_COUNT and not self.measure:
            violations.append(FieldViolation("measure", i18n.translate("ind.bad_measure")))
        percentile = 0.0
        if statistic == pb.STATISTIC_PERCENTILE:
            try:
                percentile = float(self.percentile)
            except ValueError:
                percentile = -1.0
            if not 0 <= percentile <= 100:  # also NaN
                violations.append(
                    FieldViolation("percentile", i18n.translate("ind.bad_percentile"))
                )
        scope = SCOPES.get(self.scope)
        if scope is None:
            violations.append(FieldViolation("scope", i18n.translate("ind.bad_scope")))
        chosen: list[str] = []
        for index, dimension in enumerate(self.dimensions[:MAX_DIMENSIONS], start=1):
            if not dimension:
                continue
            if dimension in chosen:
                violations.append(FieldViolation(f"d{index}", i18n.translate("ind.twice")))
            chosen.append(dimension)
        if violations or statistic is None or scope is None:
            raise InvalidArgument("indicator form", violations)
        return pb.AggregateRequest(
            measure=self.measure,
            statistic=statistic,
            percentile=percentile,
            dimensions=chosen,
            scope=scope,
        )

    def args(self) -> dict[str, str]:
        """The query string of this form (for the CSV link)."""
        values = {
            "measure": self.measure,
            "statistic": self.statistic,
            "percentile": self.percentile,
            "scope": self.scope,
        }
        values.update({f"d{i}": d for i, d in enumerate(self.dimensions, start=1) if d})
        return {name: value for name, value in values.items() if value or name == "statistic"}


# --- Cells ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One cell as the page shows it: its coordinates in words, and its value or reason."""

    coordinates: list[str]
    interior: bool
    published: bool
    value: str  # the decimal contacts answered; "" when suppressed
    reason: str  # the reason code; "" when published
    reason_text: str


def reason_text(reason: str, rules: pb.DisclosureRules) -> str:
    """A suppression reason in words, with the rules' own figures."""
    key = f"ind.reason.{reason}" if reason else "ind.reason.unknown"
    if not i18n.known(key):
        key = "ind.reason.unknown"
    return i18n.translate(key, k=rules.k, p=rules.p, m=rules.min_components or 2)


def cells(reply: pb.AggregateResponse) -> list[Cell]:
    """The answer's cells in contacts' order; a suppressed one never carries a value."""
    found = []
    for cell in reply.cells:
        words = [
            i18n.translate("ind.total")
            if c.total
            else (c.value or i18n.translate("ind.empty_value"))
            for c in cell.coordinates
        ]
        reason = "" if cell.published else REASONS.get(cell.reason, "")
        found.append(
            Cell(
                coordinates=words,
                interior=not any(c.total for c in cell.coordinates),
                published=cell.published,
                value=cell.value if cell.published else "",
                reason=reason,
                reason_text="" if cell.published else reason_text(reason, reply.rules),
            )
        )
    return found


def chart(found: list[Cell], dimensions: int) -> Any:
    """Bars of the published interior cells (the grand total alone when no dimension)."""
    shown = [c for c in found if c.published and (c.interior if dimensions else True)]
    bars = [
        charts.Bar(
            key=" · ".join(c.coordinates) or i18n.translate("ind.total"),
            label=" · ".join(c.coordinates) or i18n.translate("ind.total"),
            value=_number(c.value),
        )
        for c in shown
    ]
    return charts.stacked_bar_chart(
        i18n.translate("ind.chart"),
        bars,
        i18n.translate("ind.chart_desc"),
        i18n.translate("chart.empty"),
    )


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


# --- Upstream ---------------------------------------------------------------------------------


def _call(method: Any, message: Any) -> Any:
    try:
        return method(message)
    except grpc.RpcError as error:
        raise domain_error(error) from None


def measures() -> list[pb.FieldDefinition]:
    """The catalogue's number fields (the measures contacts can aggregate)."""
    found: list[pb.FieldDefinition] = []
    token = ""
    for _ in range(MAX_CATALOGUE_CALLS):
        page = _call(
            upstream().contacts.GetCatalogue,
            pb.GetCatalogueRequest(page_size=CATALOGUE_PAGE, page_token=token),
        )
        found.extend(f for f in page.fields if f.type == pb.FIELD_TYPE_NUMBER)
        token = page.next_page_token
        if not token:
            break
    return found


def label(item: Any) -> str:
    """A catalogue field's or a dimension's label in the page's language."""
    text = item.label_fr if i18n.language() == "fr" else item.label_en
    return str(text or getattr(item, "field", "") or getattr(item, "id", ""))


def options() -> dict[str, list[tuple[str, str]]]:
    """The selects' (value, text) pairs."""
    principal = signed.signed_in()
    dimensions = _call(upstream().contacts.ListDimensions, pb.ListDimensionsRequest()).dimensions
    scopes = ["reach", "grouping"] if principal.component else ["grouping"]
    return {
        "measure": [("", i18n.translate("ind.measure_none"))]
        + [(f.field, f"{label(f)} ({f.field})") for f in measures()],
        "statistic": [(name, i18n.translate(f"ind.stat.{name}")) for name in STATISTICS],
        "dimension": [("", i18n.translate("ind.dimension_none"))]
        + [(d.id, label(d)) for d in dimensions],
        "scope": [(name, i18n.translate(f"ind.scope.{name}")) for name in scopes],
    }


def aggregate(query: pb.AggregateRequest) -> pb.AggregateResponse:
    """Contacts' answer to `query` for the signed-in person (refusals as domain errors)."""
    reply: pb.AggregateResponse = _call(upstream().contacts.Aggregate, query)
    return reply


# --- Pages ------------------------------------------------------------------------------------


@blueprint.get("/")
@signed.login_required
def page() -> Response:
    form = IndicatorForm.read(request.args)
    choices = options()
    if not form.scope:
        form.scope = choices["scope"][0][0]
    errors: dict[str, str] = {}
    refusal = ""
    status = 200
    reply: pb.AggregateResponse | None = None
    if form.submitted:
        try:
            reply = aggregate(form.query())
        except InvalidArgument as error:
            errors, status = forms.form_errors(error, "measure", _named), 400
        except PermissionDenied as error:
            refusal, status = error.detail, error.http_status
    found = cells(reply) if reply is not None else []
    names = dict(choices["dimension"])
    asked = [d for d in form.dimensions if d]
    html = render_template(
        "console/indicators/page.html",
        form=form,
        choices=choices,
        errors=errors,
        refusal=refusal,
        status=status,
        reply=reply,
        cells=found,
        columns=[names.get(d, d) for d in asked],
        published=sum(1 for c in found if c.published),
        chart=chart(found, len(asked)) if reply is not None else None,
        csv_url=url_for(".csv", **form.args()) if reply is not None else "",  # type: ignore[arg-type]
    )
    return Response(html, status, mimetype="text/html")


def _named(field_name: str) -> str:
    """The form input a violation (ours or contacts') is about."""
    return _INPUTS.get(field_name, field_name if field_name in ("d1", "d2", "d3") else "")


@blueprint.get("/indicators.csv")
@signed.login_required
def csv() -> Response:
    """The same answer as CSV (asks contacts again: the same query, audited again)."""
    form = IndicatorForm.read(request.args)
    reply = aggregate(form.query())
    asked = [d for d in form.dimensions if d]
    rows = [
        [
            *["" if c.total else c.value for c in cell.coordinates],
            *["true" if c.total else "false" for c in cell.coordinates],
            "true" if cell.published else "false",
            cell.value if cell.published else "",
            "" if cell.published else REASONS.get(cell.reason, "suppressed"),
        ]
        for cell in reply.cells
    ]
    header = [*asked, *[f"{d}_total" for d in asked], "published", "value", "reason"]
    return tables.csv_response(header, rows, "indicators.csv")
