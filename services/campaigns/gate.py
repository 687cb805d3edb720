"""The one question every send must answer: may this contact be reached, now, by this component?

For a claimed batch, in order: one ResolveRecipients call to contacts
(membership, address), one CheckBatch call to consent (basis, withdrawal,
objection, suppression), the address syntax, then the pressure budget: one
pipelined check-and-reserve in Redis. Rows that may not be mailed are decided
in the ledger with the rule that decided them; the others come back as
Sendable, each holding its pressure slot.

Dispatch asks `recheck` once the in-flight marks of a group are durable (Redis
may have lost a slot since the batch check), and `release` for mails that did
not leave.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from meshkit.addresses import is_valid_address
from meshkit.errors import InvalidArgument
from services.campaigns.clients import ConsentGate, Directory, Recipient
from services.campaigns.ledger import CampaignInfo, ClaimedRow, Ledger
from services.campaigns.policy import (
    RULE_ADDRESS,
    RULE_MEMBERSHIP,
    RULE_UNKNOWN_PURPOSE,
    Outcome,
    consent_outcome,
    consent_rule,
    membership_outcome,
    merge_fields_of,
)
from services.campaigns.pressure import PressureCounters, PressureUnavailable

log = logging.getLogger(__name__)

Decision = tuple[int, Outcome, str]


@dataclass(frozen=True)
class Sendable:
    """A row that may be mailed now: its recipient, and the consent rule that allowed it."""

    row: ClaimedRow
    recipient: Recipient
    basis: str


class Gate:
    """Membership, consent, address and pressure for the rows of one batch."""

    def __init__(
        self,
        ledger: Ledger,
        directory: Directory,
        consent: ConsentGate,
        pressure: PressureCounters,
    ):
        self._ledger = ledger
        self._directory = directory
        self._consent = consent
        self._pressure = pressure

    def admit(self, worker: str, campaign: CampaignInfo, rows: list[ClaimedRow]) -> list[Sendable]:
        """The rows that may be mailed now; the others are decided in the ledger.

        Raises DomainError (a peer is away) or PressureUnavailable: nothing was decided
        for the rows still undecided, and the caller gives them back.
        """
        by_contact = {row.contact_id: row for row in rows}
        owner, purpose = campaign.owner_component, campaign.purpose
        decisions: list[Decision] = []
        reachable: list[Recipient] = []
        fields = merge_fields_of(campaign.subject_template, campaign.body_template)
        for recipient in self._directory.resolve(owner, purpose, list(by_contact), fields):
            outcome = membership_outcome(recipient.reachability)
            if outcome:
                decisions.append((by_contact[recipient.contact_id].id, outcome, RULE_MEMBERSHIP))
            else:
                reachable.append(recipient)
        allowed: list[Sendable] = []
        if reachable:
            try:
                answers = self._consent.check(owner, purpose, reachable)
            except InvalidArgument:
                # The purpose left the catalogue for email since the campaign was created:
                # asking again cannot help, so each recipient is decided, not retried forever.
                log.warning("campaign %s: consent refused its purpose; not sent", campaign.id)
                refused = Outcome.NO_CONSENT, RULE_UNKNOWN_PURPOSE
                decisions += [(by_contact[r.contact_id].id, *refused) for r in reachable]
                reachable, answers = [], []
            for recipient, answer in zip(reachable, answers, strict=True):
                row = by_contact[recipient.contact_id]
                outcome = consent_outcome(answer.allowed, answer.decision)
                if outcome:
                    decisions.append((row.id, outcome, consent_rule(answer.decision)))
                elif not is_valid_address(recipient.email):
                    decisions.append((row.id, Outcome.INVALID_ADDRESS, RULE_ADDRESS))
                else:
                    allowed.append(Sendable(row, recipient, consent_rule(answer.decision)))
        self._ledger.decide(worker, decisions)
        if not allowed:
            return []
        answers_by_contact = self._pressure.reserve(
            campaign.id, [s.recipient.contact_id for s in allowed]
        )
        capped = [s for s in allowed if not answers_by_contact[s.recipient.contact_id].may_send]
        self._ledger.decide(
            worker, [(s.row.id, Outcome.CAPPED, self._pressure.rule.code) for s in capped]
        )
        return [s for s in allowed if answers_by_contact[s.recipient.contact_id].may_send]

    def recheck(self, worker: str, campaign: CampaignInfo, items: list[Sendable]) -> list[Sendable]:
        """The items whose pressure slot is still held (re-reserved if Redis lost it).

        The others are decided `capped` in the ledger. Raises PressureUnavailable.
        """
        if not items:
            return []
        answers = self._pressure.reserve(campaign.id, [i.recipient.contact_id for i in items])
        lost = [i for i in items if not answers[i.recipient.contact_id].may_send]
        self._ledger.decide(
            worker, [(i.row.id, Outcome.CAPPED, self._pressure.rule.code) for i in lost]
        )
        return [i for i in items if answers[i.recipient.contact_id].may_send]

    def release(self, campaign: CampaignInfo, contact_ids: list[str]) -> None:
        """Frees the slots of mails that did not leave; a Redis failure only logs."""
        try:
            self._pressure.release(campaign.id, contact_ids)
        except PressureUnavailable:
            log.warning("campaign %s: could not free %d slots", campaign.id, len(contact_ids))
