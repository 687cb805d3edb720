"""A campaign's reach preview and its delivery report.

The preview asks the campaigns service for ONE page of recipients per request
(at most MAX_PAGE): a 100,000-recipient campaign's first page costs one
PreviewCampaign call, whose first page also carries the counts per outcome
drawn as the bar chart. The report draws the sends over time from the
deliveries (read page by page, at most _MAX_REPORT_PAGES, and says so when it
stopped there), and lists one page of deliveries.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import render_template, request, url_for

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
    "campaigns.preview.counts_first": (
        "Les comptes par issue figurent sur la première page.",
        "The counts per outcome are on the first page.",
    ),
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

_REPORT_PAGE = 1000
_MAX_REPORT_PAGES = 50
_MAX_FILLED_BUCKETS = 72
_MIN_BUCKETS = 12


@blueprint.get("/<campaign_id>/preview")
@signed.role_required(Role.CAMPAIGN_MANAGER)
def preview(campaign_id: str) -> str:
    size = common.page_size(request.args.get("page_size"))
    token = request.args.get("page_token", "")
    campaign = upstream().campaigns.GetCampaign(campaigns_pb2.GetCampaignRequest(id=campaign_id))
    # The only recipients call of this request: one page.
    reply = upstream().campaigns.PreviewCampaign(
        campaigns_pb2.PreviewCampaignRequest(id=campaign_id, page_size=size, page_token=token)
    )
    listed = mapping.preview(reply)
    chart = None
    if not token:
        counts = common.ordered_counts(listed.counts)
        chart = charts.bar_chart(
            i18n.translate("campaigns.preview.chart"),
            [
                charts.Bar(code, common.outcome_label(code), n, common.outcome_tone(code))
                for code, n in counts
            ],
            i18n.translate("campaigns.preview.chart_desc", count=listed.audience),
            empty=i18n.translate("chart.empty"),
        )
    next_url = (
        url_for(
            ".preview", campaign_id=campaign_id, page_token=listed.next_page_token, page_size=size
        )
        if listed.next_page_token
        else None
    )
    return render_template(
        "console/campaigns/preview.html",
        campaign=campaign,
        preview=listed,
        chart=chart,
        next_url=next_url,
        first_url=url_for(".preview", campaign_id=campaign_id) if token else None,
        ui=common,
    )


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
