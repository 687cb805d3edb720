"""Dispatch of one claimed batch: the gate decides who may be reached, then send by groups.

The gate (gate.py) answers membership, consent, address and pressure for the
whole batch. The recipients still allowed are then sent in groups of k
(CAMPAIGNS_SEND_GROUP_SIZE), over one SMTP connection kept open across batches:

1. the in-flight marks of the group's k rows are written in one commit, with
   the outcomes of the group before (one commit per group);
2. once the marks are durable, one pipelined `gate.recheck` confirms each
   row's pressure slot (Redis may have lost it since the batch check; a
   rebuild from the ledger now counts these rows);
3. the k mails are sent; their outcomes wait for the next group's commit
   (or one commit of their own, for the last group).

A worker killed at any point leaves every row either closed, or pending and
claimable once its lease ends; a row whose send had started (at most the k of
the group in hand) is never sent again: the next claimer closes it
`unconfirmed` (close_in_doubt). Between groups, a campaign paused or cancelled
by a manager (`still_running` turns false), or a worker told to stop, gives the
rest back at once, unsent.

A mail whose relay reply was lost after the end of DATA is `unconfirmed` at
once, keeping its pressure slot; the next mail goes over a new connection.
A temporary refusal (4xx, or a failure before the end of DATA) is retried
later, each wait longer (exponential backoff with jitter) up to
CAMPAIGNS_SMTP_MAX_ATTEMPTS refusals, then fails `smtp_failed`
(`smtp:<code>:retries_exhausted`); a permanent refusal (5xx) fails at once.
Both free the pressure slot, after the commit that records them. A relay
that cannot be reached gives the rest of the batch back, with no attempt counted.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from meshkit.errors import DomainError
from meshkit.unsubscribe import UnsubscribeRequest
from services.campaigns import metrics
from services.campaigns.gate import Gate, Sendable
from services.campaigns.ledger import Batch, CampaignInfo, Ledger, SendOutcomes
from services.campaigns.message import MailFactory, PreferencesLink
from services.campaigns.policy import (
    RULE_REPLY_LOST,
    Template,
    parse_template,
    render,
    render_html,
    smtp_rule,
)
from services.campaigns.pressure import PressureUnavailable
from services.campaigns.smtp import (
    Outgoing,
    PermanentFailure,
    RelayUnavailable,
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
    retry_delay_seconds: int  # the first wait after a temporary refusal; it doubles after
    group_size: int = 20  # in-flight marks per commit: at most this many in doubt on a kill
    max_attempts: int = 5  # temporary refusals of one row before it fails for good
    retry_max_seconds: int = 3600  # the longest wait between two attempts


def retry_delay(refusals: int, first: float, longest: float, jitter: float) -> float:
    """Seconds before a row refused `refusals` times (1, 2, ...) is tried again.

    Exponential backoff with "equal jitter": the full wait doubles from `first`
    at each refusal up to `longest`; the row waits its upper half, placed by
    `jitter` in [0, 1], so rows refused together do not come back together and
    a wait is never shorter than the one before (until the longest is reached).
    """
    full = min(longest, first * 2 ** max(0, refusals - 1))
    return full / 2 + full / 2 * jitter


def exhausted_rule(code: int | None) -> str:
    """The rule of a row refused temporarily too many times, e.g. "smtp:451:retries_exhausted"."""
    return f"smtp:{code if code is not None else 'lost'}:retries_exhausted"


@dataclass(frozen=True)
class _Content:
    """The parsed templates of a campaign's mail."""

    subject: Template
    body: Template
    html: Template | None


@dataclass
class _Unwritten:
    """Outcomes held for the next commit, and the slots to free once it is made."""

    outcomes: SendOutcomes = field(default_factory=SendOutcomes)
    slots_to_free: list[str] = field(default_factory=list)

    def take(self) -> tuple[SendOutcomes, list[str]]:
        taken = self.outcomes, self.slots_to_free
        self.outcomes, self.slots_to_free = SendOutcomes(), []
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
        jitter: Callable[[], float] = random.random,
    ):
        self._ledger = ledger
        self._gate = gate
        self._relay = relay
        self._mails = mails
        self._limits = limits
        self._jitter = jitter

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
        content = _content_of(campaign)
        unwritten = _Unwritten()
        size = self._limits.group_size
        groups = [sendable[i : i + size] for i in range(0, len(sendable), size)]
        given_back: list[Sendable] = []
        wait = 0
        try:
            with self._relay.session() as smtp:
                for index, group in enumerate(groups):
                    if stopping() or not self._ledger.still_running(campaign.id):
                        # Paused, cancelled or stopping: the rest goes back now, unsent.
                        given_back = [i for g in groups[index:] for i in g]
                        break
                    try:
                        self._send_group(worker, campaign, smtp, group, content, unwritten)
                    except (RelayUnavailable, PressureUnavailable) as error:
                        log.warning(
                            "campaign %s: %s, the rest of the batch waits", campaign.id, error
                        )
                        given_back = [i for g in groups[index + 1 :] for i in g]
                        wait = self._limits.retry_delay_seconds
                        break
        finally:
            # Whatever happens, the outcomes in hand are written, then the slots freed.
            outcomes, slots = unwritten.take()
            outcomes.retry += [(i.row.id, wait, False) for i in given_back]
            self._ledger.close_group(worker, outcomes)
            self._free_slots(campaign, slots + [i.recipient.contact_id for i in given_back])

    def _send_group(
        self,
        worker: str,
        campaign: CampaignInfo,
        smtp: SmtpSession,
        group: Sequence[Sendable],
        content: _Content,
        unwritten: _Unwritten,
    ) -> None:
        """Marks the group in flight (with the outcomes before), rechecks it, sends it.

        Raises RelayUnavailable or PressureUnavailable after recording every row of
        the group not sent in `unwritten`, to be given back.
        """
        mails = {item.row.id: self._build(campaign, item, content) for item in group}
        outcomes, slots = unwritten.take()
        try:
            refusals = self._ledger.mark_group(
                worker,
                [(row_id, message_id) for row_id, (message_id, _) in mails.items()],
                self._limits.lease_seconds,
                close=outcomes,
            )
        except BaseException:
            unwritten.outcomes, unwritten.slots_to_free = outcomes, slots  # not written yet
            raise
        self._free_slots(campaign, slots)
        lost = len(group) - len(refusals)
        if lost:
            log.warning("campaign %s: lost the claim on %d rows", campaign.id, lost)
        marked = [item for item in group if item.row.id in refusals]
        # The marks are durable: a rebuild from the ledger counts these mails now.
        try:
            kept = self._gate.recheck(worker, campaign, marked)
        except PressureUnavailable:
            self._give_back(unwritten, marked, self._limits.retry_delay_seconds)
            raise
        for position, item in enumerate(kept):
            try:
                smtp.send(mails[item.row.id][1])
            except RelayUnavailable:
                self._give_back(unwritten, kept[position:], self._limits.retry_delay_seconds)
                raise
            except PermanentFailure as failure:
                log.info("campaign %s: row %d refused (%d)", campaign.id, item.row.id, failure.code)
                unwritten.outcomes.failed.append((item.row.id, smtp_rule(failure.code)))
                unwritten.slots_to_free.append(item.recipient.contact_id)
            except TemporaryFailure as failure:
                self._refused_for_now(campaign, item, failure, refusals[item.row.id], unwritten)
            except ReplyLost:
                # The relay has the whole mail and may deliver it: in doubt, never sent
                # again, and its pressure slot stays taken.
                log.warning("campaign %s: row %d unconfirmed, reply lost", campaign.id, item.row.id)
                unwritten.outcomes.unconfirmed.append((item.row.id, RULE_REPLY_LOST))
            else:
                metrics.SENDS.labels("campaign").inc()
                unwritten.outcomes.sent.append((item.row.id, item.basis))

    def _refused_for_now(
        self,
        campaign: CampaignInfo,
        item: Sendable,
        failure: TemporaryFailure,
        refusals_before: int,
        unwritten: _Unwritten,
    ) -> None:
        refusals = refusals_before + 1
        unwritten.slots_to_free.append(item.recipient.contact_id)
        if refusals >= self._limits.max_attempts:
            log.info("campaign %s: row %d refused %d times", campaign.id, item.row.id, refusals)
            unwritten.outcomes.failed.append((item.row.id, exhausted_rule(failure.code)))
            return
        delay = retry_delay(
            refusals,
            self._limits.retry_delay_seconds,
            max(self._limits.retry_max_seconds, self._limits.retry_delay_seconds),
            self._jitter(),
        )
        log.info("campaign %s: row %d deferred (%s)", campaign.id, item.row.id, failure.code)
        metrics.SMTP_RETRIES.inc()
        unwritten.outcomes.retry.append((item.row.id, delay, True))

    def _build(
        self, campaign: CampaignInfo, item: Sendable, content: _Content
    ) -> tuple[str, Outgoing]:
        contact_id = item.recipient.contact_id
        message_id = self._mails.new_message_id()
        fields = item.recipient.merge_fields
        message = self._mails.build(
            to=item.recipient.email,
            subject=render(content.subject, fields, single_line=True),
            body=render(content.body, fields),
            html=render_html(content.html, fields) if content.html else "",
            message_id=message_id,
            unsubscribe=UnsubscribeRequest(contact_id, campaign.purpose, campaign.id),
            preferences=PreferencesLink(contact_id, campaign.id),
        )
        return message_id, self._mails.outgoing(message)

    @staticmethod
    def _give_back(unwritten: _Unwritten, items: Sequence[Sendable], wait: float) -> None:
        unwritten.outcomes.retry += [(i.row.id, wait, False) for i in items]
        unwritten.slots_to_free += [i.recipient.contact_id for i in items]

    def _free_slots(self, campaign: CampaignInfo, contact_ids: list[str]) -> None:
        # Called after the commit that closed the rows: a crash in between leaves a slot
        # held, never a mail uncounted.
        if contact_ids:
            self._gate.release(campaign, contact_ids)


def _content_of(campaign: CampaignInfo) -> _Content:
    # The campaign's HTML template, if any; else the HTML part is made from the text.
    html = campaign.html_body_template
    return _Content(
        parse_template(campaign.subject_template),
        parse_template(campaign.body_template),
        parse_template(html) if html else None,
    )
