"""Console area: the marketing pressure the grouping (or one component) puts on its people.

One month, the grouping or one component: campaigns' GetPressureDashboard answers counts
only, each published under contacts' disclosure rules. The page draws the two
distributions (messages per contact per ISO week and in the month) as column charts of
their published buckets, states the share of contacts at a cap, and lists deferrals,
unsubscribes and objections per component and purpose; a suppressed figure is said in
words and never drawn. Campaigns decides who may see what (the grouping: communication,
admins, the grouping's DPO; a component: also its staff); a refusal is the console's
error page with the API's status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from flask import Blueprint, render_template, request, url_for
from werkzeug.wrappers import Response

from meshkit.csv_export import FIGURE_COLUMNS, figure_rows
from meshkit.errors import FieldViolation, InvalidArgument
from meshkit.grpc_client import domain_error
from meshkit.identity import Principal
from meshkit.roles import Role
from protos.crm.campaigns.v1 import pressure_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway.clients import upstream
from services.gateway.console import charts, i18n, tables
from services.gateway.console import session as signed

blueprint = Blueprint("pressure_dashboard", __name__, url_prefix="/pressure/dashboard")

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DISTRIBUTIONS = ("messages_per_week", "messages_per_month")
TABLE_SERIES = ("contacts_reached", "at_cap", "deferrals", "unsubscribes", "objections")

MESSAGES = {
    "nav.pressure_dashboard": ("Pression marketing", "Marketing pressure"),
    "dash.title": ("Pression marketing du groupement", "The grouping's marketing pressure"),
    "dash.title_component": (
        "Pression marketing de la composante {component}",
        "Marketing pressure of component {component}",
    ),
    "dash.month": ("Mois", "Month"),
    "dash.component": ("Composante", "Component"),
    "dash.grouping": ("Tout le groupement", "The whole grouping"),
    "dash.show": ("Afficher", "Show"),
    "dash.rules": (
        "Chiffres publiés seulement s'ils couvrent au moins {k} contacts et qu'aucun"
        " contributeur ne dépasse {p} %. À jour au {when}.",
        "Figures published only when they cover at least {k} contacts and no contributor"
        " exceeds {p}%. Up to date as of {when}.",
    ),
    "dash.series.messages_per_week": (
        "Messages par contact et par semaine",
        "Messages per contact per week",
    ),
    "dash.series.messages_per_month": (
        "Messages par contact dans le mois",
        "Messages per contact in the month",
    ),
    "dash.dist_desc": (
        "Nombre de contacts (ou contacts-semaines) par nombre de messages reçus ; les"
        " tranches masquées ne sont pas dessinées.",
        "Contacts (or contact-weeks) by the number of messages received; hidden buckets are"
        " not drawn.",
    ),
    "dash.bucket": ("Messages reçus", "Messages received"),
    "dash.count": ("Contacts", "Contacts"),
    "dash.reached": ("Contacts ayant reçu un message", "Contacts who received a message"),
    "dash.at_cap": ("Contacts ayant atteint un plafond", "Contacts who reached a cap"),
    "dash.at_cap_share": ("Part au plafond", "Share at a cap"),
    "dash.summary": ("Vue d'ensemble", "Overview"),
    "dash.by_purpose": (
        "Contacts touchés, plafonds, reports, désinscriptions et oppositions par composante"
        " et finalité",
        "Contacts reached, caps, deferrals, unsubscribes and objections per component and purpose",
    ),
    "dash.purpose": ("Finalité", "Purpose"),
    "dash.all": ("Toutes", "All"),
    "dash.col.contacts_reached": ("Contacts touchés", "Contacts reached"),
    "dash.col.at_cap": ("Au plafond", "At a cap"),
    "dash.col.deferrals": ("Envois reportés", "Deferred sends"),
    "dash.col.unsubscribes": ("Désinscriptions", "Unsubscribes"),
    "dash.col.objections": ("Oppositions", "Objections"),
    "dash.none": ("Aucun chiffre pour ce mois.", "No figure for this month."),
    "dash.csv": ("Télécharger en CSV", "Download as CSV"),
    "dash.bad_month": ("Un mois AAAA-MM est attendu.", "A month YYYY-MM is expected."),
    "dash.reason.too_few_contacts": (
        "masqué : moins de {k} contacts",
        "hidden: fewer than {k} contacts",
    ),
    "dash.reason.too_few_components": (
        "masqué : moins de 2 composantes",
        "hidden: fewer than 2 components",
    ),
    "dash.reason.dominated": (
        "masqué : un contributeur dépasse {p} %",
        "hidden: one contributor exceeds {p}%",
    ),
    "dash.reason.complementary": (
        "masqué : protège un autre chiffre masqué",
        "hidden: protects another hidden figure",
    ),
    "dash.reason.unknown": ("masqué", "hidden"),
    "dash.not_shown": ("—", "—"),
}
i18n.register(MESSAGES)


@dataclass(frozen=True)
class Figure:
    """One figure as the page shows it."""

    series: str
    component: str
    purpose: str
    bucket: str
    published: bool
    value: int | None  # None when suppressed
    reason: str
    text: str  # the value, or the reason in words


def grouping_reader(principal: Principal) -> bool:
    """Whether campaigns lets `principal` see the grouping's dashboard."""
    return (
        principal.has_role(Role.COMMUNICATION)
        or principal.has_role(Role.ADMIN)
        or (principal.has_role(Role.DPO) and not principal.component)
    )


def may_open(principal: Principal | None) -> bool:
    """Whether the navigation offers the dashboard to `principal`."""
    if principal is None:
        return False
    if grouping_reader(principal):
        return True
    return bool(principal.component) and any(
        principal.has_role(role) for role in (Role.CAMPAIGN_MANAGER, Role.DPO)
    )


def read_month(raw: str) -> str:
    """`YYYY-MM`, the current month when empty, else InvalidArgument."""
    text = raw.strip()
    if not text:
        return datetime.now(UTC).strftime("%Y-%m")
    if not _MONTH.match(text):
        raise InvalidArgument("month", [FieldViolation("month", i18n.translate("dash.bad_month"))])
    return text


def figures(reply: pb.PressureDashboard) -> list[Figure]:
    found = []
    for item in reply.figures:
        if item.published:
            text = str(item.value)
        else:
            key = f"dash.reason.{item.reason}"
            text = i18n.translate(
                key if i18n.known(key) else "dash.reason.unknown", k=reply.k, p=reply.p
            )
        found.append(
            Figure(
                series=item.series,
                component=item.component,
                purpose=item.purpose,
                bucket=item.bucket,
                published=item.published,
                value=int(item.value) if item.published else None,
                reason="" if item.published else (item.reason or "suppressed"),
                text=text,
            )
        )
    return found


def _bucket_order(bucket: str) -> tuple[int, str]:
    digits = bucket.rstrip("+")
    return (int(digits) if digits.isdigit() else 10**6, bucket)


def distribution(found: Iterable[Figure], series: str, component: str) -> list[Figure]:
    """The buckets of one distribution for the dashboard's own scope, by bucket."""
    shown = [
        f
        for f in found
        if f.series == series and f.bucket and not f.purpose and f.component in ("", component)
    ]
    return sorted(shown, key=lambda f: _bucket_order(f.bucket))


def single(found: Iterable[Figure], series: str, component: str) -> Figure | None:
    """The one figure of a series over the dashboard's whole scope, if any."""
    for f in found:
        if f.series == series and not f.bucket and not f.purpose and f.component in ("", component):
            return f
    return None


def share(part: Figure | None, whole: Figure | None) -> str:
    """`part / whole` as a percentage, when both are published (else a dash)."""
    if part is None or whole is None or part.value is None or not whole.value:
        return i18n.translate("dash.not_shown")
    return f"{100 * part.value / whole.value:.1f} %"


def breakdown(found: Iterable[Figure]) -> list[dict[str, object]]:
    """One row per (component, purpose): contacts reached, at a cap, deferrals, unsubscribes
    and objections (the grouping's or the component's whole row last)."""
    rows: dict[tuple[str, str], dict[str, Figure]] = {}
    for f in found:
        if f.series in TABLE_SERIES and not f.bucket:
            rows.setdefault((f.component, f.purpose), {})[f.series] = f
    every = i18n.translate("dash.all")
    return [
        {
            "component": component or every,
            "purpose": purpose or every,
            "figures": [rows[(component, purpose)].get(series) for series in TABLE_SERIES],
        }
        for component, purpose in sorted(rows, key=lambda key: (key[0] == "", key))
    ]


def column_chart(title: str, buckets: list[Figure]) -> object:
    bars = [
        charts.Bar(key=f.bucket, label=f.bucket, value=float(f.value or 0))
        for f in buckets
        if f.published
    ]
    return charts.column_chart(
        title, bars, i18n.translate("dash.dist_desc"), i18n.translate("chart.empty")
    )


def _component_options(principal: Principal) -> list[tuple[str, str]]:
    if not grouping_reader(principal):
        return [(principal.component or "", principal.component or "")]
    try:
        reply = upstream().contacts.ListComponents(
            contacts_pb2.ListComponentsRequest(page_size=1000)
        )
    except grpc.RpcError as error:
        raise domain_error(error) from None
    return [("", i18n.translate("dash.grouping"))] + [
        (c.id, f"{c.name} ({c.id})") for c in reply.components
    ]


def fetch(month: str, component: str) -> pb.PressureDashboard:
    asked = pb.GetPressureDashboardRequest(month=month, component=component)
    try:
        reply: pb.PressureDashboard = upstream().pressure.GetPressureDashboard(asked)
    except grpc.RpcError as error:
        raise domain_error(error) from None
    return reply


def _asked(principal: Principal) -> tuple[str, str]:
    """(month, component) of the query string; a component's staff default to theirs."""
    month = read_month(request.args.get("month", ""))
    if "component" in request.args:
        component = request.args.get("component", "").strip()
    else:
        component = "" if grouping_reader(principal) else (principal.component or "")
    return month, component


@blueprint.get("/")
@signed.login_required
def page() -> Response:
    principal = signed.signed_in()
    errors: dict[str, str] = {}
    try:
        month, component = _asked(principal)
    except InvalidArgument as error:
        errors = {"month": error.violations[0].description}
        month = datetime.now(UTC).strftime("%Y-%m")
        component = "" if grouping_reader(principal) else (principal.component or "")
    reply = fetch(month, component)
    found = figures(reply)
    weekly = distribution(found, "messages_per_week", component)
    monthly = distribution(found, "messages_per_month", component)
    reached = single(found, "contacts_reached", component)
    at_cap = single(found, "at_cap", component)
    html = render_template(
        "console/dashboard/page.html",
        reply=reply,
        month=month,
        component=component,
        errors=errors,
        component_options=_component_options(principal),
        distributions=[
            ("messages_per_week", weekly, column_chart(_series("messages_per_week"), weekly)),
            ("messages_per_month", monthly, column_chart(_series("messages_per_month"), monthly)),
        ],
        reached=reached,
        at_cap=at_cap,
        at_cap_share=share(at_cap, reached),
        rows=breakdown(found),
        series=TABLE_SERIES,
        csv_url=url_for(".csv", month=month, component=component),
        when=reply.computed_at.replace("T", " ")[:16] + " UTC" if reply.computed_at else "—",
    )
    return Response(html, 400 if errors else 200, mimetype="text/html")


def _series(name: str) -> str:
    return i18n.translate(f"dash.series.{name}")


@blueprint.get("/dashboard.csv")
@signed.login_required
def csv() -> Response:
    principal = signed.signed_in()
    month, component = _asked(principal)
    reply = fetch(month, component)
    rows = figure_rows(figures(reply))
    return tables.csv_response(FIGURE_COLUMNS, rows, f"pressure-{reply.month or month}.csv")
