"""Dispatch of one claimed batch: the gate decides who may be reached, then send one by one.

The gate (gate.py) answers membership, consent, address and pressure for the
whole batch. Then, for each recipient still allowed: record that its send starts, check
its pressure slot is still held, send; its row is closed in the very commit
that records the next send's start (right after the send, for the last one),
so each mail costs one database commit. A worker
killed at any point leaves every row either closed, or pending and claimable
once its lease ends; a row whose send had started is never sent again.

A mail whose relay reply was lost after the end of DATA is closed `unconfirmed`
at once, keeping its pressure slot; the rest of the batch waits for a new
connection. Only a refusal (4xx, or a failure before the end of DATA) is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from meshkit.errors import DomainError
from meshkit.unsubscribe import UnsubscribeRequest
from services.campaigns.gate import Gate, Sendable
from services.campaigns.ledger import Batch, CampaignInfo, Ledger
from services.campaigns.message import MailFactory, PreferencesLink
from services.campaigns.policy import (
    RULE_REPLY_LOST,
    Outcome,
    Template,
    parse_template,
    render,
    smtp_rule,
)
from services.campaigns.pressure import PressureUnavailable
from services.campaigns.smtp import (
    PermanentFailure,
    ReplyLost,
    SmtpRelay,
    SmtpSession,
    TemporaryFailure,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchLimits:
    batch_size: int
    lease_seconds: int
    retry_delay_seconds: int


@dataclass
class _Unclosed:
    """The row of a mail the relay accepted, closed with the next row's send mark."""

    row_id: int | None = None
    rule: str = ""

    def hold(self, row_id: int, rule: str) -> None:
        self.row_id, self.rule = row_id, rule

    def take(self) -> tuple[int, str] | None:
        if self.row_id is None:
            return None
        taken, self.row_id = (self.row_id, self.rule), None
        return taken


class Dispatcher:
    """Claims and dispatches batches; shared by the worker threads of a process."""

    def __init__(
        self,
        ledger: Ledger,
        gate: Gate,
        relay: SmtpRelay,
        mails: MailFactory,
        limits: DispatchLimits,
    ):
        self._ledger = ledger
        self._gate = gate
        self._relay = relay
        self._mails = mails
        self._limits = limits

    def run_once(self, worker: str, stopping: Callable[[], bool] = lambda: False) -> int:
        """Dispatches one batch; returns how many rows it claimed (0: nothing to do).

        When `stopping()` turns true, the rows not yet sent are given back at once.
        """
        batch = self._ledger.claim(worker, self._limits.batch_size, self._limits.lease_seconds)
        if batch is not None:
            self._dispatch(worker, batch, stopping)
        for campaign_id in self._ledger.finish_campaigns():
            log.info("campaign %s done", campaign_id)
        return len(batch.rows) if batch else 0

    def _dispatch(self, worker: str, batch: Batch, stopping: Callable[[], bool]) -> None:
        campaign = batch.campaign
        in_doubt = [row for row in batch.rows if row.in_doubt]
        if in_doubt:
            log.warning("campaign %s: %d sends never confirmed", campaign.id, len(in_doubt))
            self._ledger.close_in_doubt(worker, in_doubt)
        rows = [row for row in batch.rows if not row.in_doubt]
        if not rows:
            return
        try:
            sendable = self._gate.admit(worker, campaign, rows)
        except (DomainError, PressureUnavailable) as error:
            log.warning("campaign %s: checks unavailable (%s), retrying later", campaign.id, error)
            self._ledger.release(worker, [r.id for r in rows], self._limits.retry_delay_seconds)
            return
        if sendable:
            self._send_all(worker, campaign, sendable, stopping)

    def _send_all(
        self,
        worker: str,
        campaign: CampaignInfo,
        sendable: list[Sendable],
        stopping: Callable[[], bool],
    ) -> None:
        subject = parse_template(campaign.subject_template)
        body = parse_template(campaign.body_template)
        done = 0
        unclosed = _Unclosed()
        try:
            try:
                with self._relay.session() as smtp:
                    for item in sendable:
                        if stopping():
                            break
                        self._send_one(worker, campaign, smtp, item, subject, body, unclosed)
                        done += 1
            finally:
                self._close(worker, unclosed)  # the last accepted mail, whatever happens next
            if done < len(sendable):
                self._give_back(worker, campaign, sendable[done:], retry_after_seconds=0)
        except TemporaryFailure as failure:
            log.warning(
                "campaign %s: SMTP relay unavailable (code %s), %d recipients wait",
                campaign.id,
                failure.code,
                len(sendable) - done,
            )
            self._give_back(worker, campaign, sendable[done:])
        except ReplyLost:
            # The row in doubt is closed, its slot kept; the connection is gone.
            log.warning(
                "campaign %s: SMTP reply lost after a mail, %d recipients wait",
                campaign.id,
                len(sendable) - done - 1,
            )
            self._give_back(worker, campaign, sendable[done + 1 :])
        except PressureUnavailable as error:
            log.warning("campaign %s: pressure unavailable (%s)", campaign.id, error)
            self._give_back(worker, campaign, sendable[done:])

    def _send_one(
        self,
        worker: str,
        campaign: CampaignInfo,
        smtp: SmtpSession,
        item: Sendable,
        subject: Template,
        body: Template,
        unclosed: _Unclosed,
    ) -> None:
        contact_id = item.recipient.contact_id
        message_id = self._mails.new_message_id()
        fields = item.recipient.merge_fields
        message = self._mails.build(
            to=item.recipient.email,
            subject=render(subject, fields, single_line=True),
            body=render(body, fields),
            message_id=message_id,
            unsubscribe=UnsubscribeRequest(contact_id, campaign.purpose, campaign.id),
            preferences=PreferencesLink(contact_id, campaign.id),
        )
        if not self._ledger.mark_sending(
            worker, item.row.id, message_id, self._limits.lease_seconds, close=unclosed.take()
        ):
            log.warning("campaign %s: lost the claim on contact %s", campaign.id, contact_id)
            return
        # The in-flight mark is durable now, so a rebuild from the ledger counts this mail:
        # check the slot is still held (Redis may have lost it since the batch check).
        if not self._gate.recheck(worker, campaign, [item]):
            return
        try:
            smtp.send(message)
        except PermanentFailure as failure:
            log.info("campaign %s: contact %s refused (%d)", campaign.id, contact_id, failure.code)
            self._ledger.decide(
                worker, [(item.row.id, Outcome.SMTP_FAILED, smtp_rule(failure.code))]
            )
            self._free_slots(campaign, [contact_id])
            return
        except TemporaryFailure as failure:
            if failure.connection_lost:
                raise  # the caller gives this row and the rest back
            log.info("campaign %s: contact %s deferred (%s)", campaign.id, contact_id, failure.code)
            self._ledger.release(worker, [item.row.id], self._limits.retry_delay_seconds)
            self._free_slots(campaign, [contact_id])
            return
        except ReplyLost:
            # The relay has the whole mail and may deliver it: in doubt, never sent again,
            # and its pressure slot stays taken. (Should this commit fail, the row stays
            # pending with its send mark: the next claimer closes it in doubt.)
            log.warning("campaign %s: contact %s unconfirmed, reply lost", campaign.id, contact_id)
            self._ledger.close_unconfirmed(worker, item.row.id, RULE_REPLY_LOST)
            raise
        unclosed.hold(item.row.id, item.basis)

    def _close(self, worker: str, unclosed: _Unclosed) -> None:
        taken = unclosed.take()
        if taken:
            self._ledger.close_sent(worker, *taken)

    def _give_back(
        self,
        worker: str,
        campaign: CampaignInfo,
        items: list[Sendable],
        retry_after_seconds: int | None = None,
    ) -> None:
        if retry_after_seconds is None:
            retry_after_seconds = self._limits.retry_delay_seconds
        # Rows first: a crash in between leaves a slot held, never a mail uncounted.
        self._ledger.release(worker, [i.row.id for i in items], retry_after_seconds)
        self._free_slots(campaign, [i.recipient.contact_id for i in items])

    def _free_slots(self, campaign: CampaignInfo, contact_ids: list[str]) -> None:
        self._gate.release(campaign, contact_ids)
