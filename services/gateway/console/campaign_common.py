"""What the campaign pages share: their blueprint, their words, and small conversions.

The pages (campaigns.py: list, campaign page and its actions; campaign_compose.py:
the composer; campaign_reports.py: preview and delivery report) all hang on the
blueprint made here, so each module stays small.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import grpc
from flask import Blueprint

from meshkit.errors import FieldViolation, InvalidArgument
from meshkit.grpc_client import domain_error
from protos.crm.campaigns.v1 import campaigns_pb2
from services.campaigns.lifecycle import CampaignStatus
from services.gateway import mapping, responses
from services.gateway.clients import upstream
from services.gateway.console import i18n

blueprint = Blueprint("campaigns", __name__, url_prefix="/campaigns")

# The most rows a page asks a service for at once (and the default).
MAX_PAGE = 100
DEFAULT_PAGE = 50

# Outcome codes, in the order the pages show them, with the chart tone of each.
OUTCOMES = (
    "sent",
    "pending",
    "deferred",
    "unconfirmed",
    "no_consent",
    "withdrawn",
    "capped",
    "pressure",
    "not_member",
    "no_email",
    "invalid_address",
    "smtp_failed",
    "duplicate",
    "expired",
    "cancelled",
)
_TONES = {
    "sent": "good",
    "pending": "muted",
    "deferred": "warn",
    "unconfirmed": "warn",
    "capped": "warn",
    "pressure": "warn",
    "expired": "muted",
    "cancelled": "muted",
}

MESSAGES = {
    "campaigns.title": ("Campagnes", "Campaigns"),
    "campaigns.new": ("Nouvelle campagne", "New campaign"),
    "campaigns.empty": ("Aucune campagne pour l'instant.", "No campaign yet."),
    "campaigns.table": ("Campagnes de la composante", "The component's campaigns"),
    "campaigns.col.name": ("Nom", "Name"),
    "campaigns.col.status": ("Statut", "Status"),
    "campaigns.col.purpose": ("Finalité", "Purpose"),
    "campaigns.col.send_at": ("Envoi prévu", "Planned send"),
    "campaigns.col.counts": ("Résultats", "Outcomes"),
    "campaigns.status.draft": ("Brouillon", "Draft"),
    "campaigns.status.scheduled": ("Programmée", "Scheduled"),
    "campaigns.status.running": ("En cours", "Running"),
    "campaigns.status.paused": ("En pause", "Paused"),
    "campaigns.status.done": ("Terminée", "Done"),
    "campaigns.status.cancelled": ("Annulée", "Cancelled"),
    "campaigns.outcome.sent": ("envoyé", "sent"),
    "campaigns.outcome.pending": ("en attente", "pending"),
    "campaigns.outcome.deferred": ("différé", "deferred"),
    "campaigns.outcome.unconfirmed": ("non confirmé", "unconfirmed"),
    "campaigns.outcome.no_consent": ("sans consentement", "no consent"),
    "campaigns.outcome.withdrawn": ("consentement retiré", "consent withdrawn"),
    "campaigns.outcome.capped": ("plafonné", "capped"),
    "campaigns.outcome.pressure": ("pression", "pressure"),
    "campaigns.outcome.not_member": ("hors composante", "not a member"),
    "campaigns.outcome.no_email": ("sans adresse", "no address"),
    "campaigns.outcome.invalid_address": ("adresse invalide", "invalid address"),
    "campaigns.outcome.smtp_failed": ("échec SMTP", "SMTP failure"),
    "campaigns.outcome.duplicate": ("doublon", "duplicate"),
    "campaigns.outcome.expired": ("expiré", "expired"),
    "campaigns.outcome.cancelled": ("annulé", "cancelled"),
    "campaigns.none": ("—", "—"),
    "campaigns.utc": ("(UTC)", "(UTC)"),
    "campaigns.bad_time": (
        "Date et heure attendues, par exemple 2030-01-31T08:00.",
        "A date and time is expected, e.g. 2030-01-31T08:00.",
    ),
}
i18n.register(MESSAGES)


def rpc(method: Any, message: Any) -> Any:
    """`method(message)`, a refusal raised as the service's own DomainError.

    Views catch InvalidArgument from it to show a form's errors next to its fields.
    """
    try:
        return method(message)
    except grpc.RpcError as error:
        raise domain_error(error) from error


def status_word(status: object) -> str:
    value = getattr(status, "value", status) or ""
    return i18n.translate(f"campaigns.status.{value}") if value else ""


def outcome_label(code: str) -> str:
    """The translated name of an outcome code; an unknown or prefixed code shows as itself."""
    key = f"campaigns.outcome.{code}"
    return i18n.translate(key) if i18n.known(key) else code


def outcome_tone(code: str) -> str:
    return _TONES.get(code, "bad")


def ordered_counts(raw: Mapping[Any, int]) -> list[tuple[str, int]]:
    """Counts per outcome, known codes first in a fixed order, then the others by name."""
    counts = {str(getattr(code, "value", code)): int(n) for code, n in raw.items()}
    known = [(code, counts[code]) for code in OUTCOMES if code in counts]
    others = sorted((code, n) for code, n in counts.items() if code not in OUTCOMES)
    return known + others


def load(campaign_id: str) -> responses.Campaign:
    """One campaign, with the signed-in user's token (404 when it is another component's)."""
    request = campaigns_pb2.GetCampaignRequest(id=campaign_id)
    return mapping.campaign(upstream().campaigns.GetCampaign(request))


def is_status(campaign: responses.Campaign, *statuses: CampaignStatus) -> bool:
    return campaign.status in statuses


def page_size(raw: str | None, default: int = DEFAULT_PAGE) -> int:
    """`?page_size=` between 1 and MAX_PAGE; anything else is the default."""
    try:
        size = int(raw or default)
    except ValueError:
        return default
    return max(1, min(MAX_PAGE, size))


def parse_local_time(field: str, raw: str) -> datetime | None:
    """A `datetime-local` value, read as UTC; empty is None; anything else a field error."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{field}: not a date and time",
            [FieldViolation(field, i18n.translate("campaigns.bad_time"))],
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def short_time(value: str | None) -> str:
    """An RFC 3339 UTC time as `YYYY-MM-DD HH:MM UTC`; absent as a dash."""
    if not value:
        return "—"
    return value.replace("T", " ")[:16] + " UTC"
