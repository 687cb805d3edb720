"""When a consent must be asked again, and when it lapses (pure).

A consent lives `retention` months after the person's last positive act on it
(a grant, a confirmation, a revalidation; a click on a link in a mail once
campaigns reports them; an open never counts). One month before the end
(`lead`), the person gets one revalidation message; at the end, unanswered,
the consent lapses (an `expired` event). Answering renews it: the renewal is a
new positive act, so the next cycle is counted from it and has run keys of its
own.

The job that acts on this runs daily and may run twice, or on two replicas:
the run key of each act is derived from the consent's last positive event, so
a second run finds the act already done.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.consent.domain import (
    POSITIVE,
    Channel,
    ConsentEvent,
    EventKind,
    LegalBasis,
    Purpose,
    Question,
    Scope,
)
from services.consent.policy import standing_event

DEFAULT_RETENTION_MONTHS = 36
LEAD_MONTHS = 1


class Stage(StrEnum):
    CURRENT = "current"  # nothing to do yet
    REVALIDATE = "revalidate"  # in the last month: ask once
    LAPSE = "lapse"  # past its end unanswered: record `expired`


@dataclass(frozen=True)
class Standing:
    """A consent in force: which event last renewed it, and when."""

    last_positive_event_id: str
    last_positive_at: datetime
    retention_months: int = DEFAULT_RETENTION_MONTHS


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, on the month's last day when it is shorter."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expires_at(standing: Standing) -> datetime:
    """The moment the consent lapses if nothing renews it."""
    return add_months(standing.last_positive_at, standing.retention_months)


def revalidation_from(standing: Standing) -> datetime:
    """The moment the revalidation message becomes due."""
    return add_months(standing.last_positive_at, standing.retention_months - LEAD_MONTHS)


def stage(standing: Standing, now: datetime) -> Stage:
    """What the daily job does for this consent at `now`."""
    if now >= expires_at(standing):
        return Stage.LAPSE
    if now >= revalidation_from(standing):
        return Stage.REVALIDATE
    return Stage.CURRENT


def run_key(standing: Standing, act: Stage) -> str:
    """The same for every run that would do this act for this cycle of this consent."""
    return f"{act.value}:{standing.last_positive_event_id}"


# --- Which consents are in force (the job's selection) -------------------------------------


@dataclass(frozen=True)
class Held:
    """One consent in force on the consent basis: contact x purpose x channel x scope."""

    contact_id: str
    purpose: str
    channel: Channel
    scope: Scope
    standing: Standing


def in_force(events: Iterable[ConsentEvent], purposes: Mapping[str, Purpose]) -> list[Held]:
    """The consents of these events (one contact's, or many) that the retention rules act on.

    Per contact x purpose x channel x scope, the event that decides that very scope
    (its own events and objections; policy.standing_event) must allow on the consent
    basis: a grant (not pending, consent basis), a confirmation or a revalidation.
    That event is the consent's last positive act. Purposes outside the catalogue are
    skipped; legitimate interest, contract and legal obligation never lapse here.
    """
    events = list(events)
    keys = {
        (e.contact_id, e.purpose, e.channel, e.scope)
        for e in events
        if e.kind is not EventKind.OBJECTED and e.purpose in purposes and e.channel is not None
    }
    held = []
    for contact_id, purpose_key, channel, scope in sorted(keys, key=_key_order):
        assert purpose_key is not None and channel is not None
        purpose = purposes[purpose_key]
        own = [
            e
            for e in events
            if e.contact_id == contact_id
            and (
                (e.purpose, e.channel, e.scope) == (purpose_key, channel, scope)
                or e.kind is EventKind.OBJECTED
            )
        ]
        question = Question(purpose_key, channel, scope.component, purpose.marketing)
        standing = standing_event(own, question)
        if standing is None or not _on_consent(standing):
            continue
        renewed = Standing(standing.id, standing.recorded_at, purpose.retention_months)
        held.append(Held(contact_id, purpose_key, channel, scope, renewed))
    return held


def _on_consent(event: ConsentEvent) -> bool:
    if event.kind not in POSITIVE or event.pending:
        return False
    return event.kind is not EventKind.GRANTED or event.legal_basis is LegalBasis.CONSENT


def _key_order(key: tuple[str, str | None, Channel | None, Scope]) -> tuple[str, str, str, str]:
    contact_id, purpose, channel, scope = key
    return (contact_id, purpose or "", channel.value if channel else "", scope.component or "")
