"""The pressure a contact is under: slots used and free per rule, and the next allowed send.

`panel(contact_id)` is the section the contact page embeds; the blueprint
serves the same panel as a page of its own (`/console/contacts/<id>/pressure`).
Both ask campaigns' GetContactPressure with the signed-in user's token: the
service decides who may see it (the readers of the contact's interaction
history). Refused, the panel renders nothing (the contact page says the rest);
the page shows the console's error page, as the API's problem would.
"""

from __future__ import annotations

from datetime import UTC

import grpc
from flask import Blueprint, render_template
from google.protobuf.timestamp_pb2 import Timestamp
from markupsafe import Markup

from protos.crm.campaigns.v1 import pressure_pb2
from services.gateway import pressure as pressure_api
from services.gateway.console import charts, i18n
from services.gateway.console import session as signed

blueprint = Blueprint("pressure_panel", __name__)

MESSAGES = {
    "pressure.title": ("Pression marketing", "Marketing pressure"),
    "pressure.page_title": (
        "Pression marketing du contact {contact}",
        "Marketing pressure of contact {contact}",
    ),
    "pressure.chart": ("Créneaux utilisés par règle", "Slots used per rule"),
    "pressure.chart_desc": (
        "Pour chaque règle, messages comptés sur la fenêtre / limite, et prochain créneau libre.",
        "For each rule, messages counted in its window / limit, and the next free slot.",
    ),
    "pressure.none": ("Aucune règle", "No rule"),
    "pressure.next_free": ("prochain créneau : {when}", "next slot: {when}"),
    "pressure.free_now": ("libre", "free"),
    "pressure.next_allowed": ("Prochain envoi possible", "Next allowed send"),
    "pressure.now": ("maintenant", "now"),
    "pressure.decided_by": ("fixé par {rule}", "set by {rule}"),
    "pressure.min_gap": ("Écart minimal", "Minimum gap"),
    "pressure.gap_until": ("jusqu'au {when}", "until {when}"),
    "pressure.no_gap": ("aucun", "none"),
    "pressure.seconds": ("{n} s", "{n} s"),
    "pressure.policy_version": ("Version de la politique", "Policy version"),
    "pressure.as_of": ("Compteurs au", "Counters as of"),
    "pressure.quiet_note": (
        "Heures et dates de silence non comprises (elles dépendent du fuseau du contact).",
        "Quiet hours and dates not included (they depend on the contact's time zone).",
    ),
    "pressure.unavailable": (
        "La pression de ce contact est indisponible pour le moment.",
        "This contact's pressure is unavailable right now.",
    ),
    "pressure.back": ("Retour aux contacts", "Back to contacts"),
    "pressure.rule_label": ("{id} ({scope})", "{id} ({scope})"),
    "pressure.scope.grouping": ("groupement", "grouping"),
    "pressure.scope.component": ("composante {value}", "component {value}"),
    "pressure.scope.purpose": ("finalité {value}", "purpose {value}"),
    "pressure.scope.channel": ("canal {value}", "channel {value}"),
}
i18n.register(MESSAGES)

REFUSED = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
)
SCOPE_WORDS = {
    pressure_pb2.PRESSURE_SCOPE_GROUPING: "grouping",
    pressure_pb2.PRESSURE_SCOPE_COMPONENT: "component",
    pressure_pb2.PRESSURE_SCOPE_PURPOSE: "purpose",
    pressure_pb2.PRESSURE_SCOPE_CHANNEL: "channel",
}


def when(stamp: Timestamp) -> str:
    """A time as the console writes it: UTC, to the minute."""
    moment = stamp.ToDatetime(tzinfo=UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def scope_text(rule: pressure_pb2.PressureBudgetRule) -> str:
    word = SCOPE_WORDS.get(rule.scope, "grouping")
    return i18n.translate(f"pressure.scope.{word}", value=rule.scope_value)


def fetch(contact_id: str) -> pressure_pb2.ContactPressure:
    """The contact's pressure as campaigns lets the signed-in user see it (errors propagate)."""
    signed.signed_in()
    request = pressure_pb2.GetContactPressureRequest(contact_id=contact_id)
    reply: pressure_pb2.ContactPressure = pressure_api.stub().GetContactPressure(request)
    return reply


def render(reply: pressure_pb2.ContactPressure) -> Markup:
    """The panel's section for one answer."""
    slots = [
        charts.Slots(
            key=item.rule.id,
            label=i18n.translate(
                "pressure.rule_label", id=item.rule.id, scope=scope_text(item.rule)
            ),
            used=item.used,
            limit=item.rule.max_messages,
            note=(
                i18n.translate("pressure.next_free", when=when(item.next_free_at))
                if item.HasField("next_free_at")
                else i18n.translate("pressure.free_now")
            ),
        )
        for item in reply.rules
    ]
    chart = charts.slots_chart(
        i18n.translate("pressure.chart"),
        slots,
        i18n.translate("pressure.chart_desc"),
        i18n.translate("pressure.none"),
    )
    allowed_now = reply.next_allowed_at.ToDatetime(tzinfo=UTC) <= reply.as_of.ToDatetime(tzinfo=UTC)
    html = render_template(
        "console/pressure/panel.html",
        reply=reply,
        chart=chart,
        next_allowed=i18n.translate("pressure.now") if allowed_now else when(reply.next_allowed_at),
        gap_until=when(reply.gap_until) if reply.HasField("gap_until") else "",
        as_of=when(reply.as_of),
    )
    return Markup(html)


def panel(contact_id: str) -> Markup:
    """The panel's HTML for `contact_id`, as the signed-in user may see it; empty if refused."""
    try:
        reply = fetch(contact_id)
    except signed.SignInNeeded:
        return Markup("")
    except grpc.RpcError as error:
        if error.code() in REFUSED:  # type: ignore[attr-defined]
            return Markup("")
        return Markup(render_template("console/pressure/unavailable.html"))
    return render(reply)


@blueprint.get("/contacts/<contact_id>/pressure")
@signed.login_required
def page(contact_id: str) -> str:
    """The panel as a page of its own: refused, the console's error page (404/403)."""
    section = render(fetch(contact_id))
    return render_template("console/pressure/page.html", contact_id=contact_id, section=section)
