"""Read-only views of the pressure counters: one contact's status, and a policy's simulation.

- **Status** (GetContactPressure): for one contact, per rule of the policy in
  force, how many messages the rule counts now, the slots left and when the
  next one frees, and the first time a marketing mail could leave. Read from
  the counters the send decision reads (PressureCounters.snapshot: Redis, or
  the database when Redis lost the log), writing nothing. Who may ask is the
  interaction history's decision (interactions_policy.reader_of / may_read):
  the member components' staff, admins, the grouping's DPO and services; any
  other caller is told the contact does not exist. The answer is counts and
  times only: no subject, content or campaign of any component.
- **Simulation** (SimulatePressure, admin only): "with these rules, how many of
  this campaign's recipients would be deferred": the campaign's recipients,
  resolved as the preview resolves them and in the same batches, are decided
  by Gate.simulate under the candidate policy and under the one in force,
  from one snapshot of the counters per batch. Nothing is reserved and
  nothing is written to the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from meshkit.db import Database
from meshkit.errors import NotFound, invalid
from meshkit.identity import Principal
from services.campaigns.clients import MemberDirectory
from services.campaigns.gate import Expected, Gate
from services.campaigns.interactions_policy import MAX_CONTACT_ID, NUL, may_read, reader_of
from services.campaigns.ledger import info_of, survivors_of
from services.campaigns.models import Campaign
from services.campaigns.policy import Outcome
from services.campaigns.pressure import PressureCounters
from services.campaigns.pressure_policy import (
    Answer,
    BudgetRule,
    Logged,
    Message,
    PressurePolicy,
    evaluate,
    is_interaction,
    validate_policy,
)
from services.campaigns.preview import PREVIEW_BATCH, Audience
from services.campaigns.validation import check_campaign_id

# The log key of the mail a status asks about: never a real message's key.
STATUS_KEY = "s:status"
STATUS_CHANNEL = "email"


@dataclass(frozen=True)
class RuleStatus:
    rule: BudgetRule
    used: int
    free: int
    next_free_at: datetime | None  # when full: when its next slot frees


@dataclass(frozen=True)
class ContactPressure:
    contact_id: str
    policy_version: int
    rules: list[RuleStatus]
    min_gap_seconds: int
    last_counted_at: datetime | None
    gap_until: datetime | None
    next_allowed_at: datetime
    deciding_rule: str
    as_of: datetime


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def rule_status(rule: BudgetRule, log: list[Logged], now_ms: int) -> RuleStatus:
    """How full one rule is for one contact's log at `now_ms`."""
    scores = sorted(
        m.at_ms for m in log if rule.counts_logged(m) and m.at_ms > now_ms - rule.window_ms
    )
    used = len(scores)
    next_free = None
    if used >= rule.max_messages:
        next_free = _at(scores[used - rule.max_messages] + rule.window_ms)
    return RuleStatus(rule, used, max(0, rule.max_messages - used), next_free)


def contact_pressure(
    contact_id: str, policy: PressurePolicy, log: list[Logged], message: Message, now_ms: int
) -> ContactPressure:
    """The status of one contact from its log (pure: the use case reads the log)."""
    alive = [m for m in log if m.at_ms >= now_ms - policy.horizon_ms]
    mailed = [m.at_ms for m in alive if not is_interaction(m.key)]
    last = max(mailed) if mailed else None
    gap_until = None
    if last is not None and policy.min_gap_ms and now_ms - last < policy.min_gap_ms:
        gap_until = _at(last + policy.min_gap_ms)
    answer, retry_ms, rule = evaluate(policy, alive, STATUS_KEY, message, now_ms)
    over = answer is Answer.OVER
    return ContactPressure(
        contact_id=contact_id,
        policy_version=policy.version,
        rules=[rule_status(r, alive, now_ms) for r in policy.rules],
        min_gap_seconds=policy.min_gap_seconds,
        last_counted_at=_at(last) if last is not None else None,
        gap_until=gap_until,
        next_allowed_at=_at(retry_ms if over else now_ms),
        deciding_rule=rule if over else "",
        as_of=_at(now_ms),
    )


class PressureStatus:
    """GetContactPressure: one contact's pressure, for those who may read its history."""

    def __init__(self, db: Database, directory: MemberDirectory, counters: PressureCounters):
        self._db = db
        self._directory = directory
        self._counters = counters

    def status(
        self, principal: Principal, contact_id: str, component: str = "", purpose: str = ""
    ) -> ContactPressure:
        reader = reader_of(principal)
        if not contact_id or len(contact_id) > MAX_CONTACT_ID or NUL in contact_id:
            raise invalid("contact_id", f"must be 1 to {MAX_CONTACT_ID} characters, without NUL")
        members = self._directory.members([contact_id])
        if contact_id not in members or not may_read(reader, members[contact_id]):
            raise NotFound("contact not found")
        with self._db.transaction() as session:
            (person,) = survivors_of(session, [contact_id])
        policy = self._counters.policy
        now_ms, logs = self._counters.snapshot([person], policy.horizon_ms)
        message = Message(component or principal.component or "", purpose, STATUS_CHANNEL)
        status = contact_pressure(person, policy, logs.get(person, []), message, now_ms)
        return status if person == contact_id else _renamed(status, contact_id)


def _renamed(status: ContactPressure, contact_id: str) -> ContactPressure:
    from dataclasses import replace

    return replace(status, contact_id=contact_id)


@dataclass
class Outcomes:
    """What a policy does to a campaign's recipients now."""

    would_send: int = 0
    deferred: int = 0
    deferred_by_rule: Counter[str] = field(default_factory=Counter)
    expired: int = 0
    capped: int = 0
    not_reached: int = 0

    def add(self, expected: Expected) -> None:
        if expected.outcome is None:
            self.would_send += 1
        elif expected.outcome is Outcome.DEFERRED:
            self.deferred += 1
            self.deferred_by_rule[expected.rule] += 1
        elif expected.outcome is Outcome.EXPIRED:
            self.expired += 1
        elif expected.outcome is Outcome.CAPPED:
            self.capped += 1
        else:
            self.not_reached += 1


@dataclass(frozen=True)
class Simulation:
    campaign_id: str
    audience: int
    current_version: int
    current: Outcomes
    candidate: Outcomes


class PressureSimulations:
    """SimulatePressure: a candidate policy against a campaign's recipients, writing nothing."""

    def __init__(
        self,
        db: Database,
        gate: Gate,
        audience: Audience,
        counters: PressureCounters,
        components: Callable[[], Collection[str]],
        batch_size: int = PREVIEW_BATCH,
    ):
        self._db = db
        self._gate = gate
        self._audience = audience
        self._counters = counters
        self._components = components
        self._batch = batch_size

    def simulate(
        self, principal: Principal, campaign_id: str, candidate: PressurePolicy
    ) -> Simulation:
        principal.require_admin()
        check_campaign_id("campaign_id", campaign_id)
        validate_policy(candidate, self._components())
        with self._db.transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise NotFound("campaign not found")
            info = info_of(campaign)
        ids = list(self._audience(campaign))
        with self._db.transaction() as session:
            people = sorted(dict.fromkeys(survivors_of(session, ids)))
        current_policy = self._counters.policy
        current, wanted = Outcomes(), Outcomes()
        for start in range(0, len(people), self._batch):
            batch = people[start : start + self._batch]
            now, then = self._gate.simulate(info, batch, [current_policy, candidate])
            for expected in now:
                current.add(expected)
            for expected in then:
                wanted.add(expected)
        return Simulation(campaign_id, len(people), current_policy.version, current, wanted)
