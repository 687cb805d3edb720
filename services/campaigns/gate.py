"""The one question every send must answer: may this contact be reached, now, by this component?

For a claimed batch, in order: one ResolveRecipients call to contacts
(membership, address, time zone), one CheckBatch call to consent (basis,
withdrawal, objection, suppression), the address syntax, quiet hours and
quiet dates in the contact's own time zone, then the pressure budget: one
pipelined check-and-reserve in Redis of every rule touching each contact,
leaving the slots that higher-priority campaigns still wait for.

A recipient over the budget (or in a quiet period) is deferred to the first
time the policy allows, unless that is after the campaign's deadline
(`expired`) or the campaign drops what is over its budget (`capped`).

`evaluate` answers without writing anything (a preview peeks at the
counters); `admit` answers for claimed rows, reserves, and writes each
decision to the ledger. Both run the same code, so a preview made just before
a send agrees with it. Dispatch asks `recheck` once the in-flight marks of a
group are durable (Redis may have lost a slot since the batch check), and
`release` for mails that did not leave.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from meshkit.addresses import is_valid_address
from meshkit.errors import InvalidArgument
from services.campaigns.clients import ConsentGate, Directory, Recipient
from services.campaigns.ledger import CampaignInfo, ClaimedRow, Clock, Ledger, utc_now
from services.campaigns.policy import (
    RULE_ADDRESS,
    RULE_MEMBERSHIP,
    RULE_UNKNOWN_PURPOSE,
    Outcome,
    Reachability,
    consent_outcome,
    consent_rule,
    membership_outcome,
    merge_fields_of,
)
from services.campaigns.pressure import PressureCounters, PressureUnavailable, Sender
from services.campaigns.pressure_policy import (
    Answer,
    Logged,
    Message,
    PressurePolicy,
    campaign_key,
    evaluate,
    quiet_until,
)
from services.campaigns.validation import OverBudget

log = logging.getLogger(__name__)

RULE_DEADLINE = "deadline"


@dataclass(frozen=True)
class Expected:
    """What happens to one recipient now: `outcome` None means the mail may leave."""

    contact_id: str
    outcome: Outcome | None
    rule: str
    recipient: Recipient
    until: datetime | None = None  # deferred: when the policy next allows it


@dataclass(frozen=True)
class Sendable:
    """A row that may be mailed now: its recipient, and the consent rule that allowed it."""

    row: ClaimedRow
    recipient: Recipient
    basis: str


def sender_of(campaign: CampaignInfo) -> Sender:
    return Sender(
        campaign_key(campaign.id), Message(campaign.owner_component, campaign.purpose, "email")
    )


class Gate:
    """Membership, consent, address, quiet periods and pressure for a batch of recipients."""

    def __init__(
        self,
        ledger: Ledger,
        directory: Directory,
        consent: ConsentGate,
        pressure: PressureCounters,
        clock: Clock = utc_now,
    ):
        self._ledger = ledger
        self._directory = directory
        self._consent = consent
        self._pressure = pressure
        self._clock = clock

    def evaluate(
        self, campaign: CampaignInfo, contact_ids: Sequence[str], peek: bool
    ) -> list[Expected]:
        """Each recipient's outcome now, in the order given; reserves slots unless `peek`.

        Raises DomainError (a peer is away) or PressureUnavailable.
        """
        now = self._clock()
        if campaign.deadline is not None and now > campaign.deadline:
            return [
                Expected(c, Outcome.EXPIRED, RULE_DEADLINE, Recipient(c, Reachability.OK))
                for c in contact_ids
            ]
        decided, allowed = self._reachable(campaign, contact_ids)
        for expected in self._pressure_of(campaign, allowed, now, peek):
            decided[expected.contact_id] = expected
        return [decided[c] for c in dict.fromkeys(contact_ids) if c in decided]

    def simulate(
        self,
        campaign: CampaignInfo,
        contact_ids: Sequence[str],
        policies: Sequence[PressurePolicy],
    ) -> list[list[Expected]]:
        """Each recipient's outcome now under each of `policies`, writing nothing at all.

        Contacts and consent are asked once for all the policies; pressure is read from
        one snapshot of the counters (PressureCounters.snapshot) and decided by the
        reference model the Redis script agrees with (pressure_policy.evaluate).
        """
        now = self._clock()
        if campaign.deadline is not None and now > campaign.deadline:
            expired = [
                Expected(c, Outcome.EXPIRED, RULE_DEADLINE, Recipient(c, Reachability.OK))
                for c in contact_ids
            ]
            return [list(expired) for _ in policies]
        decided, allowed = self._reachable(campaign, contact_ids)
        ids = [item.contact_id for item in allowed]
        horizon = max([p.horizon_ms for p in policies] + [1000])
        now_ms, logs = self._pressure.snapshot(ids, horizon)
        holdback = self._ledger.higher_priority_waiting(campaign, ids)
        sender = sender_of(campaign)
        results: list[list[Expected]] = []
        for policy in policies:
            mine = dict(decided)
            for item in allowed:
                mine[item.contact_id] = self._modelled(
                    campaign, policy, sender, item, logs, now, now_ms, holdback
                )
            results.append([mine[c] for c in dict.fromkeys(contact_ids) if c in mine])
        return results

    def _modelled(
        self,
        campaign: CampaignInfo,
        policy: PressurePolicy,
        sender: Sender,
        item: Expected,
        logs: dict[str, list[Logged]],
        now: datetime,
        now_ms: int,
        holdback: dict[str, int],
    ) -> Expected:
        owner = campaign.owner_component
        quiet = quiet_until(policy, owner, item.recipient.time_zone, now)
        if quiet is not None:
            return self._later(campaign, policy, item, quiet.until, quiet.rule, budget=False)
        answer, retry_ms, rule = evaluate(
            policy,
            logs.get(item.contact_id, []),
            sender.key,
            sender.message,
            now_ms,
            holdback.get(item.contact_id, 0),
        )
        if answer is not Answer.OVER:
            return item
        retry = datetime.fromtimestamp(retry_ms / 1000, UTC)
        return self._later(campaign, policy, item, retry, rule, budget=True)

    def _reachable(
        self, campaign: CampaignInfo, contact_ids: Sequence[str]
    ) -> tuple[dict[str, Expected], list[Expected]]:
        """Membership, consent and address: the recipients decided, and those left to pressure."""
        owner, purpose = campaign.owner_component, campaign.purpose
        fields = merge_fields_of(
            campaign.subject_template, campaign.body_template, campaign.html_body_template
        )
        decided: dict[str, Expected] = {}
        reachable: list[Recipient] = []
        for recipient in self._directory.resolve(owner, purpose, list(contact_ids), fields):
            outcome = membership_outcome(recipient.reachability)
            if outcome:
                decided[recipient.contact_id] = Expected(
                    recipient.contact_id, outcome, RULE_MEMBERSHIP, recipient
                )
            else:
                reachable.append(recipient)
        allowed: list[Expected] = []
        if reachable:
            try:
                answers = self._consent.check(owner, purpose, reachable)
            except InvalidArgument:
                # The purpose left the catalogue for email since the campaign was created:
                # asking again cannot help, so each recipient is decided, not retried forever.
                log.warning("campaign %s: consent refused its purpose; not sent", campaign.id)
                for r in reachable:
                    decided[r.contact_id] = Expected(
                        r.contact_id, Outcome.NO_CONSENT, RULE_UNKNOWN_PURPOSE, r
                    )
                reachable, answers = [], []
            for recipient, answer in zip(reachable, answers, strict=True):
                contact_id = recipient.contact_id
                outcome = consent_outcome(answer.allowed, answer.decision)
                if outcome:
                    decided[contact_id] = Expected(
                        contact_id, outcome, consent_rule(answer.decision), recipient
                    )
                elif not is_valid_address(recipient.email):
                    decided[contact_id] = Expected(
                        contact_id, Outcome.INVALID_ADDRESS, RULE_ADDRESS, recipient
                    )
                else:
                    allowed.append(
                        Expected(contact_id, None, consent_rule(answer.decision), recipient)
                    )
        return decided, allowed

    def _pressure_of(
        self, campaign: CampaignInfo, allowed: list[Expected], now: datetime, peek: bool
    ) -> list[Expected]:
        policy = self._pressure.policy
        owner = campaign.owner_component
        out: list[Expected] = []
        candidates: list[Expected] = []
        for item in allowed:
            quiet = quiet_until(policy, owner, item.recipient.time_zone, now)
            if quiet is None:
                candidates.append(item)
            else:
                out.append(
                    self._later(campaign, policy, item, quiet.until, quiet.rule, budget=False)
                )
        if not candidates:
            return out
        ids = [c.contact_id for c in candidates]
        holdback = self._ledger.higher_priority_waiting(campaign, ids)
        answers = self._pressure.reserve(sender_of(campaign), ids, holdback, peek=peek)
        for item in candidates:
            answer = answers[item.contact_id]
            if answer.may_send:
                out.append(item)
                continue
            retry = datetime.fromtimestamp(answer.retry_at_ms / 1000, UTC)
            out.append(self._later(campaign, policy, item, retry, answer.rule, budget=True))
        return out

    @staticmethod
    def _later(
        campaign: CampaignInfo,
        policy: PressurePolicy,
        item: Expected,
        at: datetime,
        rule: str,
        budget: bool,
    ) -> Expected:
        """Deferred to `at` (pushed past any quiet period), expired, or dropped."""
        if budget and campaign.over_budget == OverBudget.DROP:
            return Expected(item.contact_id, Outcome.CAPPED, rule, item.recipient)
        quiet = quiet_until(policy, campaign.owner_component, item.recipient.time_zone, at)
        if quiet is not None:
            at = quiet.until
        if campaign.deadline is not None and at > campaign.deadline:
            return Expected(item.contact_id, Outcome.EXPIRED, rule, item.recipient)
        return Expected(item.contact_id, Outcome.DEFERRED, rule, item.recipient, at)

    def admit(self, worker: str, campaign: CampaignInfo, rows: list[ClaimedRow]) -> list[Sendable]:
        """The rows that may be mailed now, their slots reserved; the others are decided.

        Raises DomainError (a peer is away) or PressureUnavailable: nothing was decided
        for the rows still undecided, and the caller gives them back.
        """
        by_contact = {row.contact_id: row for row in rows}
        expected = self.evaluate(campaign, list(by_contact), peek=False)
        return self._record(worker, by_contact, expected)

    def recheck(self, worker: str, campaign: CampaignInfo, items: list[Sendable]) -> list[Sendable]:
        """The items whose pressure slot is still held (re-reserved if Redis lost it).

        The others are deferred (or expired, or capped) in the ledger. Raises
        PressureUnavailable.
        """
        if not items:
            return []
        policy = self._pressure.policy
        answers = self._pressure.reserve(
            sender_of(campaign), [i.recipient.contact_id for i in items]
        )
        kept: list[Sendable] = []
        lost: list[Expected] = []
        for item in items:
            answer = answers[item.recipient.contact_id]
            if answer.may_send:
                kept.append(item)
                continue
            retry = datetime.fromtimestamp(answer.retry_at_ms / 1000, UTC)
            base = Expected(item.recipient.contact_id, None, item.basis, item.recipient)
            lost.append(self._later(campaign, policy, base, retry, answer.rule, budget=True))
        by_contact = {i.recipient.contact_id: i.row for i in items}
        self._record(worker, by_contact, lost)
        return kept

    def _record(
        self, worker: str, rows: dict[str, ClaimedRow], expected: list[Expected]
    ) -> list[Sendable]:
        decisions = []
        deferrals = []
        sendable = []
        for item in expected:
            row = rows[item.contact_id]
            if item.outcome is None:
                sendable.append(Sendable(row, item.recipient, item.rule))
            elif item.outcome is Outcome.DEFERRED and item.until is not None:
                deferrals.append((row.id, item.until, item.rule))
            else:
                decisions.append((row.id, item.outcome, item.rule))
        self._ledger.decide(worker, decisions)
        self._ledger.defer(worker, deferrals)
        return sendable

    def release(self, campaign: CampaignInfo, contact_ids: list[str]) -> None:
        """Frees the slots of mails that did not leave; a Redis failure only logs."""
        try:
            self._pressure.release(sender_of(campaign), contact_ids)
        except PressureUnavailable:
            log.warning("campaign %s: could not free %d slots", campaign.id, len(contact_ids))
