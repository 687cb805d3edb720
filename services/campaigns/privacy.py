"""What campaigns holds on one person, and its erasure (the grouping DPO's privacy requests).

Called by a service of the mesh (the consent service drives privacy requests).
Export gathers every ledger row naming the person (under their id or an id
merged into it) and the pressure slots counted for them now. Erasure leaves
no row naming the person: ledger rows keep their campaign, class and outcome
under a random id of their own (so every campaign's counts stay right), the
id leaves campaign audiences and merge aliases, and the pressure keys go.
The interactions recorded for the person (services/campaigns/interactions.py) are
exported whole, and deleted by the erasure: without the person they say nothing.
The pressure dashboard's attributed withdrawals and objections of the person are
exported, and deleted by the erasure; the months that counted them are recomputed
without them (erased ledger rows name nobody, and the rollup leaves them out).
Running it again finds nothing more to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from meshkit.db import Database
from meshkit.errors import Unavailable, Violations
from meshkit.identity import Principal
from services.campaigns import repository
from services.campaigns.interactions import (
    InteractionRecord,
    delete_interactions,
    interactions_of,
)
from services.campaigns.ledger import Clock, utc_now
from services.campaigns.pressure import PressureCounters, PressureUnavailable
from services.campaigns.pressure_policy import campaign_of
from services.campaigns.pressure_rollup import AttributedResponse, forget_person, responses_of
from services.campaigns.repository import DeliveryRecord
from services.campaigns.validation import MAX_CONTACT_ID, NUL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """One mail the pressure budget counts for the person in the current window."""

    campaign_id: str
    at: datetime
    rule: str


@dataclass(frozen=True)
class ContactRecords:
    contact_id: str
    merged_ids: list[str]
    deliveries: list[DeliveryRecord]
    pressure: list[Slot]
    interactions: list[InteractionRecord] = field(default_factory=list)
    responses: list[AttributedResponse] = field(default_factory=list)


@dataclass(frozen=True)
class Erasure:
    deliveries_anonymised: int
    audiences_changed: int
    aliases_removed: int
    pressure_keys_dropped: int
    interactions_deleted: int = 0


class ContactPrivacy:
    """The ExportContact and EraseContact use cases."""

    def __init__(self, db: Database, pressure: PressureCounters, clock: Clock = utc_now):
        self._db = db
        self._pressure = pressure
        self._clock = clock

    def export(self, principal: Principal, contact_id: str) -> ContactRecords:
        """Everything campaigns holds on the person, in ledger order."""
        principal.require_service()
        _check_id(contact_id)
        with self._db.transaction() as session:
            ids = repository.person_ids(session, contact_id)
            deliveries = repository.deliveries_of(session, ids)
            interactions = interactions_of(session, ids)
            responses = responses_of(session, ids)
        return ContactRecords(
            contact_id, ids[1:], deliveries, self._slots(ids), interactions, responses
        )

    def erase(self, principal: Principal, contact_id: str) -> Erasure:
        """Leaves no row or key naming the person; idempotent."""
        principal.require_service()
        _check_id(contact_id)
        with self._db.transaction() as session:
            ids = repository.person_ids(session, contact_id)
            # Before the rows lose the ids: the months whose figures counted the person.
            forget_person(session, ids)
            anonymised = repository.anonymise_deliveries(session, ids, self._clock())
            audiences = repository.remove_from_audiences(session, ids)
            interactions = delete_interactions(session, ids)
            aliases = repository.remove_aliases(session, ids)
        try:
            dropped = self._pressure.drop(ids)
        except PressureUnavailable:
            # The database part is done; a repeat drops the keys (and finds no rows).
            raise Unavailable("the pressure counters could not be dropped; repeat") from None
        log.info(
            "erasure: %d deliveries anonymised, %d audiences, %d aliases, %d pressure keys, "
            "%d interactions",
            anonymised,
            audiences,
            aliases,
            dropped,
            interactions,
        )
        return Erasure(anonymised, audiences, aliases, dropped, interactions)

    def _slots(self, ids: list[str]) -> list[Slot]:
        try:
            found = self._pressure.slots(ids)
        except PressureUnavailable:
            raise Unavailable("the pressure counters could not be read; repeat") from None
        policy = self._pressure.policy
        return [
            Slot(
                campaign_of(slot.key),
                datetime.fromtimestamp(slot.at_ms / 1000, UTC),
                ",".join(rule.code for rule in policy.rules_for(slot.message)),
            )
            for slot in found
        ]


def _check_id(contact_id: str) -> None:
    problems = Violations()
    if not contact_id or len(contact_id) > MAX_CONTACT_ID or NUL in contact_id:
        problems.add("contact_id", f"must be 1 to {MAX_CONTACT_ID} characters, without NUL")
    problems.raise_if_any()
