"""A campaign's reach preview and its delivery report.

The preview asks the campaigns service for ONE page of recipients per request
(at most MAX_PAGE, skip_counts: no count over the whole audience), the header
without the audience's ids (GetCampaign summary), and the reach snapshot
(GetReach), which campaigns counts in the background: the bar chart once it is
done, "counting: X of N" meanwhile, the page reloading itself every two seconds
(a Refresh header, no JavaScript). "Count again" asks for a new count.

The report draws the sends over time from the deliveries (read page by page, at
most _MAX_REPORT_PAGES, and says so when it stopped there), and lists one page
of deliveries.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from meshkit.roles import Role
from protos.crm.campaigns.v1 import campaigns_pb2
from services.gateway import mapping
from services.gateway.clients import upstream
from services.gateway.console import campaign_common as common
from services.gateway.console import charts, i18n
from services.gateway.console import session as signed
from services.gateway.console.campaign_common import blueprint

MESSAGES = {
    "campaigns.preview.title": ("Aperçu : {name}", "Preview: {name}"),
    "campaigns.preview.help": (
        "Ce qui arriverait si la campagne partait maintenant ; rien n'est réservé ni écrit.",
        "What would happen if the campaign left now; nothing is reserved or written.",
    ),
    "campaigns.preview.audience": ("Taille de l'audience : {count}", "Audience size: {count}"),
    "campaigns.preview.chart": ("Portée par issue", "Reach per outcome"),
    "campaigns.preview.chart_desc": (
        "Nombre de destinataires par code d'issue, sur {count} destinataires.",
        "Recipients per outcome code, of {count} recipients.",
    ),
    "campaigns.preview.counted_at": ("Compté le {time}.", "Counted at {time}."),
    "campaigns.preview.counting": (
        "Comptage en cours : {evaluated} sur {audience}. La page se met à jour seule.",
        "Counting: {evaluated} of {audience}. The page updates itself.",
    ),
    "campaigns.preview.progress": ("Avancement du comptage", "Counting progress"),
    "campaigns.preview.failed": (
        "Le comptage a échoué le {time}. Relancez-le.",
        "The count failed at {time}. Count again.",
    ),
    "campaigns.preview.stale": (
        "La campagne a changé depuis ce comptage ; un nouveau comptage est lancé.",
        "The campaign changed since this count; a new count is on its way.",
    ),
    "campaigns.preview.count_again": ("Compter à nouveau", "Count again"),
    "campaigns.preview.table": ("Destinataires (une page)", "Recipients (one page)"),
    "campaigns.preview.contact": ("Contact", "Contact"),
    "campaigns.preview.outcome": ("Issue", "Outcome"),
    "campaigns.preview.rule": ("Règle", "Rule"),
    "campaigns.preview.deferred": ("Différé jusqu'à", "Deferred until"),
    "campaigns.preview.email": ("Adresse", "Address"),
    "campaigns.preview.empty": ("Aucun destinataire sur cette page.", "No recipient on this page."),
    "campaigns.report.title": ("Rapport : {name}", "Report: {name}"),
    "campaigns.report.counts": ("Résultats par issue", "Outcomes"),
    "campaigns.report.chart": ("Envois dans le temps", "Sends over time"),
    "campaigns.report.chart_desc_hour": (
        "Courriels envoyés par heure (UTC).",
        "Mails sent per hour (UTC).",
    ),
    "campaigns.report.chart_desc_day": (
        "Courriels envoyés par jour (UTC).",
        "Mails sent per day (UTC).",
    ),
    "campaigns.report.truncated": (
        "Le graphique ne compte que les {count} premières remises lues.",
        "The chart counts only the first {count} deliveries read.",
    ),
    "campaigns.report.table": ("Remises (une page)", "Deliveries (one page)"),
    "campaigns.report.decided": ("Décidé le", "Decided at"),
    "campaigns.report.empty": ("Aucune remise pour l'instant.", "No delivery yet."),
}
i18n.register(MESSAGES)

_REFRESH_SECONDS = 2
_REPORT_PAGE = 1000
_MAX_REPORT_PAGES = 50
_MAX_FILLED_BUCKETS = 72
_MIN_BUCKETS = 12


@blueprint.get("/<campaign_id>/preview")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def preview(campaign_id: str) -> Response:
    size = common.page_size(request.args.get("page_size"))
    token = request.args.get("page_token", "")
    # The header without the audience's ids (a list audience may hold 100,000 of them).
    campaign = upstream().campaigns.GetCampaign(
        campaigns_pb2.GetCampaignRequest(id=campaign_id, summary=True)
    )
    # The only recipients call of this request: one page, no count over the whole audience.
    reply = upstream().campaigns.PreviewCampaign(
        campaigns_pb2.PreviewCampaignRequest(
            id=campaign_id, page_size=size, page_token=token, skip_counts=True
        )
    )
    listed = mapping.preview(reply)
    # The counts per outcome: the snapshot campaigns counts in the background (answers at once;
    # the first visit, or one after an edit, starts the count).
    reach = mapping.reach(
        upstream().campaigns.GetReach(campaigns_pb2.GetReachRequest(id=campaign_id))
    )
    chart = None
    if reach.status == "done":
        counts = common.ordered_counts(reach.counts)
        chart = charts.bar_chart(
            i18n.translate("campaigns.preview.chart"),
            [
                charts.Bar(code, common.outcome_label(code), n, common.outcome_tone(code))
                for code, n in counts
            ],
            i18n.translate("campaigns.preview.chart_desc", count=reach.audience),
            empty=i18n.translate("chart.empty"),
        )
    next_url = (
        url_for(
            ".preview", campaign_id=campaign_id, page_token=listed.next_page_token, page_size=size
        )
        if listed.next_page_token
        else None
    )
    page = make_response(
        render_template(
            "console/campaigns/preview.html",
            campaign=campaign,
            preview=listed,
            reach=reach,
            chart=chart,
            next_url=next_url,
            first_url=url_for(".preview", campaign_id=campaign_id) if token else None,
            ui=common,
        )
    )
    if reach.status == "counting":
        # Reloads itself every two seconds until the count is done, without JavaScript
        # (the HTTP twin of <meta http-equiv="refresh">; the CSP does not restrict it).
        page.headers["Refresh"] = str(_REFRESH_SECONDS)
    return page


@blueprint.post("/<campaign_id>/preview/reach")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def count_again(campaign_id: str) -> Response:
    """Counts the reach again (unless a count is running), then back to the preview."""
    upstream().campaigns.GetReach(campaigns_pb2.GetReachRequest(id=campaign_id, refresh=True))
    return redirect(url_for(".preview", campaign_id=campaign_id), 303)


def _sends_over_time(campaign_id: str) -> tuple[list[charts.Bar], bool, str]:
    """Sent deliveries bucketed by hour (within two days) or by day; truncated or not."""
    times: list[datetime] = []
    token = ""
    truncated = False
    for index in range(_MAX_REPORT_PAGES):
        reply = upstream().campaigns.ListDeliveries(
            campaigns_pb2.ListDeliveriesRequest(
                campaign_id=campaign_id, page_size=_REPORT_PAGE, page_token=token
            )
        )
        for delivery in reply.deliveries:
            if delivery.outcome == "sent" and delivery.HasField("decided_at"):
                times.append(delivery.decided_at.ToDatetime())
        token = reply.next_page_token
        if not token:
            break
        truncated = index == _MAX_REPORT_PAGES - 1
    if not times:
        return [], truncated, "hour"
    hourly = max(times) - min(times) <= timedelta(hours=48)
    step = timedelta(hours=1) if hourly else timedelta(days=1)

    def bucket(moment: datetime) -> datetime:
        if hourly:
            return moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    counted = Counter(bucket(t) for t in times)
    first, last = min(counted), max(counted)
    keys = sorted(counted)
    if (last - first) / step < _MAX_FILLED_BUCKETS:
        # At least _MIN_BUCKETS columns, ending at the last send: a lone column would
        # fill the whole picture.
        span = max(int((last - first) / step) + 1, _MIN_BUCKETS)
        keys = [last - step * i for i in reversed(range(span))]
    shape = "%Y-%m-%dT%H:00Z" if hourly else "%Y-%m-%d"
    label = "%d/%m %Hh" if hourly else "%Y-%m-%d"
    bars = [
        charts.Bar(key.strftime(shape), key.strftime(label), counted.get(key, 0), "good")
        for key in keys
    ]
    return bars, truncated, "hour" if hourly else "day"


@blueprint.get("/<campaign_id>/report")
@signed.role_required(component=True)
def report(campaign_id: str) -> str:
    campaign = common.load(campaign_id)
    size = common.page_size(request.args.get("page_size"))
    token = request.args.get("page_token", "")
    bars, truncated, unit = _sends_over_time(campaign_id)
    chart = charts.column_chart(
        i18n.translate("campaigns.report.chart"),
        bars,
        i18n.translate(f"campaigns.report.chart_desc_{unit}"),
        empty=i18n.translate("chart.empty"),
    )
    counts = common.ordered_counts(campaign.outcome_counts or {})
    counts_chart = charts.bar_chart(
        i18n.translate("campaigns.report.counts"),
        [
            charts.Bar(code, common.outcome_label(code), n, common.outcome_tone(code))
            for code, n in counts
        ],
        empty=i18n.translate("chart.empty"),
    )
    reply = upstream().campaigns.ListDeliveries(
        campaigns_pb2.ListDeliveriesRequest(
            campaign_id=campaign_id, page_size=size, page_token=token
        )
    )
    deliveries = [mapping.delivery(d) for d in reply.deliveries]
    next_url = (
        url_for(
            ".report", campaign_id=campaign_id, page_token=reply.next_page_token, page_size=size
        )
        if reply.next_page_token
        else None
    )
    return render_template(
        "console/campaigns/report.html",
        campaign=campaign,
        chart=chart,
        counts_chart=counts_chart,
        truncated=truncated,
        read=_MAX_REPORT_PAGES * _REPORT_PAGE,
        deliveries=deliveries,
        next_url=next_url,
        first_url=url_for(".report", campaign_id=campaign_id) if token else None,
        ui=common,
    )
