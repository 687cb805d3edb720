"""Pressure counters in Redis: one atomic check-and-reserve of every rule touching a contact.

Each contact has one sorted set, its *log*: one member per message that uses
the pressure budget (a campaign mail sent or in flight, an interaction
recorded by staff), scored with the time it was counted (ms since epoch by the
Redis server's clock). A member names the message and what the rules look at:
`<key>|<component>|<purpose>|<channel>`. Beside it, a *rebuilt* marker says
the log agrees with the database for the policy's longest window (its value).
Both keys carry the hash tag {contact_id}: a script call touches one Redis
Cluster slot, and a shard that restarts empty loses its markers together with
its logs.

One Lua script (RESERVE_LUA) reads the log once and checks, for the message
about to leave, every budget rule it counts against (grouping, component,
purpose, channel) and the minimum gap (an interaction, key "i:...", counts
only under the channel rules of its channel), then adds the message to the log only
when all of them allow it. It answers `over` with the first time at which all
of them would allow it (the deferral time) and the rule that decided it.
`peek` mode runs the same checks and writes nothing: previews use it.

When the marker is missing or too short (Redis lost its data, the contact has
not been seen for a whole window, or the policy's longest window grew), the
log is rebuilt from the database before anything is granted: one query per
batch for the contacts concerned. A rebuild only adds messages the database
proves, so two workers rebuilding the same contact at once agree.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError

from services.campaigns import metrics
from services.campaigns.ledger import Clock, utc_now
from services.campaigns.pressure_policy import (
    BudgetRule,
    Counted,
    Logged,
    Message,
    PressurePolicy,
    gap_rule_code,
)

log = logging.getLogger(__name__)

# KEYS[1] the contact's log, KEYS[2] its rebuilt marker.
# ARGV: mode (reserve|peek), member, horizon ms, min gap ms, holdback, rule count, then for
# each rule: code, scope, scope value, max, window ms.
RESERVE_LUA = """
local log_key, marker = KEYS[1], KEYS[2]
local mode, member = ARGV[1], ARGV[2]
local horizon, gap = tonumber(ARGV[3]), tonumber(ARGV[4])
local holdback, nrules = tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rebuilt = tonumber(redis.call('GET', marker) or '0')
if rebuilt < horizon then
  return {'rebuild', now, 0, ''}
end
local floor = string.format('%.0f', now - horizon)
if mode == 'reserve' then
  redis.call('PEXPIRE', marker, horizon)
  redis.call('ZREMRANGEBYSCORE', log_key, '-inf', '(' .. floor)
end
local mine = redis.call('ZSCORE', log_key, member)
if mine and tonumber(mine) < now - horizon then mine = nil end
local entries = redis.call('ZRANGEBYSCORE', log_key, floor, '+inf', 'WITHSCORES')
local items = {}
local newest = nil
for i = 1, #entries, 2 do
  if entries[i] ~= member then
    local key, component, purpose, channel = string.match(entries[i], '^(.*)|(.*)|(.*)|(.*)$')
    local at = tonumber(entries[i + 1])
    local interaction = string.sub(key, 1, 2) == 'i:'
    items[#items + 1] = {at, component, purpose, channel, interaction, key}
    if not interaction and (newest == nil or at > newest) then newest = at end
  end
end
local function counts(it, scope, value)
  return (scope == 'channel' and it[4] == value) or (not it[5] and (
    scope == 'grouping'
    or (scope == 'component' and it[2] == value)
    or (scope == 'purpose' and it[3] == value)))
end
if mine then
  -- Our entry holds its slot while, under every rule, fewer than max counted entries
  -- come before it (by time, then key) and none within the gap before it.
  local at_mine = tonumber(mine)
  local key_mine = string.match(member, '^([^|]*)|')
  local holds = true
  for _, it in ipairs(items) do
    local earlier = it[1] < at_mine or (it[1] == at_mine and it[6] < key_mine)
    if earlier and gap > 0 and not it[5] and at_mine - it[1] < gap then holds = false end
  end
  for r = 0, nrules - 1 do
    local base = 7 + r * 5
    local scope, value = ARGV[base + 1], ARGV[base + 2]
    local max, window = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
    local before = 0
    for _, it in ipairs(items) do
      local earlier = it[1] < at_mine or (it[1] == at_mine and it[6] < key_mine)
      if earlier and counts(it, scope, value) and it[1] > now - window then
        before = before + 1
      end
    end
    if before + 1 > max then holds = false end
  end
  if holds then
    return {'reserved', now, 0, ''}
  end
  if mode == 'reserve' then
    redis.call('ZREM', log_key, member)  -- a slot lost to others: asked again below
  end
end
local retry, why = 0, ''
if gap > 0 and newest ~= nil and now - newest < gap then
  retry, why = newest + gap, 'gap'
end
for r = 0, nrules - 1 do
  local base = 7 + r * 5
  local code, scope, value = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  local max, window = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local scores = {}
  for _, it in ipairs(items) do
    if counts(it, scope, value) and it[1] > now - window then scores[#scores + 1] = it[1] end
  end
  local hb = 0
  if scope == 'grouping' or scope == 'channel' then hb = holdback end
  local over = #scores + hb - max + 1
  if over > 0 then
    table.sort(scores)
    local free_at = now + window
    if over <= #scores then free_at = scores[over] + window end
    if free_at > retry then retry, why = free_at, code end
  end
end
if retry > 0 then
  return {'over', now, retry, why}
end
if mode == 'reserve' then
  redis.call('ZADD', log_key, string.format('%.0f', now), member)
  redis.call('PEXPIRE', log_key, horizon)
end
return {'allowed', now, 0, ''}
"""

_REBUILD_ROUNDS = 3
# Worker clocks and Redis' clock differ a little: read the database a bit further back.
_CLOCK_MARGIN = timedelta(minutes=5)
GAP_RULE = "gap"


class PressureUnavailable(Exception):
    """The counters could not be trusted (e.g. Redis kept losing them): send nothing now."""


class Verdict(StrEnum):
    """The pressure answer for one message."""

    ALLOWED = "allowed"  # reserved now
    ALREADY_RESERVED = "reserved"  # this message holds a slot already (a retry)
    OVER = "over"  # a rule or the minimum gap says not now


@dataclass(frozen=True)
class PressureAnswer:
    verdict: Verdict
    now_ms: int
    retry_at_ms: int = 0  # when over: the first time every rule would allow it
    rule: str = ""  # when over: the code of the rule that decided the retry time

    @property
    def may_send(self) -> bool:
        return self.verdict is not Verdict.OVER


@dataclass(frozen=True)
class Sender:
    """The campaign (or recorder) whose message asks for a slot."""

    key: str  # "d:<campaign id>"
    message: Message


History = Callable[[Sequence[str], datetime], list[Counted]]


def member(key: str, message: Message) -> str:
    """The log member of one message; `|` never occurs in ids, purposes or channels."""
    return f"{key}|{message.component}|{message.purpose}|{message.channel}"


def logged(value: str, at_ms: int) -> Logged:
    """A log member read back: its key, what it counts as, and when."""
    key, component, purpose, channel = (value.split("|") + ["", "", ""])[:4]
    return Logged(key, Message(component, purpose, channel), at_ms)


def rule_args(rules: Sequence[BudgetRule]) -> list[Any]:
    args: list[Any] = [len(rules)]
    for rule in rules:
        args += [rule.code, rule.scope.value, rule.scope_value, rule.max_messages, rule.window_ms]
    return args


class PressureCounters:
    """Check-and-reserve of the pressure policy for messages to contacts."""

    def __init__(
        self,
        redis: Any,
        prefix: str,
        policy: Callable[[], PressurePolicy],
        history: History,
        clock: Clock = utc_now,
    ):
        self._redis = redis
        self._prefix = prefix
        self._policy = policy
        self._history = history
        self._clock = clock
        self._runner = ScriptRunner(redis, RESERVE_LUA)

    @property
    def policy(self) -> PressurePolicy:
        return self._policy()

    def log_key(self, contact_id: str) -> str:
        return f"{self._prefix}pressure:{{{contact_id}}}:log"

    def marker_key(self, contact_id: str) -> str:
        return f"{self._prefix}pressure:{{{contact_id}}}:rebuilt"

    # Kept for callers that name the key of a contact's slots.
    slots_key = log_key

    def reserve(
        self,
        sender: Sender,
        contact_ids: Sequence[str],
        holdback: Mapping[str, int] | None = None,
        peek: bool = False,
    ) -> dict[str, PressureAnswer]:
        """One slot per contact for this message under every rule, or `over`; one round trip.

        `holdback[contact]` slots of each rule are left to higher-priority campaigns
        waiting for the same contact. With `peek`, nothing is written (a preview).
        """
        policy = self._policy()
        rules = policy.rules_for(sender.message)
        horizon_ms = policy.horizon_ms
        answers: dict[str, PressureAnswer] = {}
        todo = list(dict.fromkeys(contact_ids))
        holdback = holdback or {}
        for _ in range(_REBUILD_ROUNDS):
            if not todo:
                return answers
            common = [policy.min_gap_ms]
            calls = [
                (
                    [self.log_key(c), self.marker_key(c)],
                    [
                        "peek" if peek else "reserve",
                        member(sender.key, sender.message),
                        horizon_ms,
                        *common,
                        holdback.get(c, 0),
                        *rule_args(rules),
                    ],
                )
                for c in todo
            ]
            lost: list[str] = []
            for contact_id, reply in zip(todo, self._run(calls), strict=True):
                verdict, now_ms, retry_at_ms, why = reply
                if verdict == "rebuild":
                    lost.append(contact_id)
                    continue
                rule = gap_rule_code(policy) if why == GAP_RULE else str(why)
                answers[contact_id] = PressureAnswer(
                    Verdict(verdict), int(now_ms), int(retry_at_ms), rule
                )
            if lost:
                self.rebuild(lost, policy)
            todo = lost
        if todo:
            raise PressureUnavailable("pressure counters kept disappearing during a rebuild")
        return answers

    def release(self, sender: Sender, contact_ids: Sequence[str]) -> None:
        """Frees the slots of messages that did not leave (temporary or permanent failure)."""
        if not contact_ids:
            return
        value = member(sender.key, sender.message)
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipeline.zrem(self.log_key(contact_id), value)
        self._execute(pipeline)

    def record(self, contact_id: str, key: str, message: Message, at: datetime) -> None:
        """Counts a message that left another way (an interaction) in the contact's log.

        Only a log that is trusted (marker present) is written; otherwise the next
        check rebuilds it from the database, which holds the message already.
        """
        pipeline = self._redis.pipeline(transaction=False)
        pipeline.exists(self.marker_key(contact_id))
        (present,) = self._execute(pipeline)
        if present:
            self._redis.zadd(
                self.log_key(contact_id), {member(key, message): int(at.timestamp() * 1000)}
            )

    def rebuild(self, contact_ids: Sequence[str], policy: PressurePolicy | None = None) -> None:
        """Reloads these contacts' logs from the database, then marks them rebuilt."""
        policy = policy or self._policy()
        horizon_ms = policy.horizon_ms
        since = self._clock() - timedelta(milliseconds=horizon_ms) - _CLOCK_MARGIN
        by_contact: dict[str, dict[str, int]] = defaultdict(dict)
        for counted in self._history(contact_ids, since):
            value = member(counted.key, counted.message)
            by_contact[counted.contact_id][value] = int(counted.at.timestamp() * 1000)
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            mine = by_contact.get(contact_id)
            if mine:
                pipeline.zadd(self.log_key(contact_id), mine)
                pipeline.pexpire(self.log_key(contact_id), horizon_ms)
            pipeline.set(self.marker_key(contact_id), str(horizon_ms), px=horizon_ms)
        self._execute(pipeline)
        metrics.PRESSURE_REBUILDS.inc(len(contact_ids))
        log.info("rebuilt pressure counters of %d contacts from the database", len(contact_ids))

    def forget(self, contact_ids: Sequence[str]) -> None:
        """Drops these contacts' rebuilt markers: their next check rebuilds from the database."""
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipeline.delete(self.marker_key(contact_id))
        self._execute(pipeline)

    def slots(self, contact_ids: Sequence[str]) -> list[Logged]:
        """Each message in these contacts' logs, oldest first."""
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipeline.zrange(self.log_key(contact_id), 0, -1, withscores=True)
        found = [
            logged(_text(name), int(score))
            for reply in self._execute(pipeline)
            for name, score in reply
        ]
        return sorted(found, key=lambda slot: slot.at_ms)

    def snapshot(
        self, contact_ids: Sequence[str], horizon_ms: int
    ) -> tuple[int, dict[str, list[Logged]]]:
        """The Redis clock (ms) and each contact's log as a check would read it; writes nothing.

        A log whose rebuilt marker is missing or shorter than `horizon_ms` is read from
        the database instead (what a rebuild would load), without being rebuilt: the
        status page and the simulation never touch a counter.
        """
        wanted = list(dict.fromkeys(contact_ids))
        try:
            seconds, micros = self._redis.time()
        except RedisError as error:
            raise PressureUnavailable(f"redis: {type(error).__name__}") from None
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        logs: dict[str, list[Logged]] = {c: [] for c in wanted}
        if not wanted:
            return now_ms, logs
        floor = now_ms - horizon_ms
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in wanted:
            pipeline.get(self.marker_key(contact_id))
            pipeline.zrangebyscore(self.log_key(contact_id), floor, "+inf", withscores=True)
        replies = self._execute(pipeline)
        untrusted: list[str] = []
        for index, contact_id in enumerate(wanted):
            marker, entries = replies[2 * index], replies[2 * index + 1]
            if int(_text(marker) or 0) < horizon_ms:
                untrusted.append(contact_id)
                continue
            logs[contact_id] = [logged(_text(name), int(score)) for name, score in entries]
        if untrusted:
            since = self._clock() - timedelta(milliseconds=horizon_ms) - _CLOCK_MARGIN
            proved: dict[str, dict[str, int]] = defaultdict(dict)
            for counted in self._history(untrusted, since):
                value = member(counted.key, counted.message)
                proved[counted.contact_id][value] = int(counted.at.timestamp() * 1000)
            for contact_id in untrusted:
                logs[contact_id] = [
                    logged(value, at_ms)
                    for value, at_ms in proved.get(contact_id, {}).items()
                    if at_ms >= floor
                ]
        return now_ms, logs

    def drop(self, contact_ids: Sequence[str]) -> int:
        """Deletes these contacts' logs and rebuilt markers (an erasure); how many keys went."""
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:  # one key per DELETE: a cluster pipeline needs it
            pipeline.delete(self.log_key(contact_id))
            pipeline.delete(self.marker_key(contact_id))
        return sum(int(n) for n in self._execute(pipeline)) if contact_ids else 0

    def _run(self, calls: list[tuple[list[str], list[Any]]]) -> list[list[Any]]:
        try:
            replies = self._runner.run(calls)
        except RedisError as error:
            raise PressureUnavailable(f"redis: {type(error).__name__}") from None
        return [[_text(v) for v in reply] for reply in replies]

    @staticmethod
    def _execute(pipeline: Any) -> list[Any]:
        try:
            return list(pipeline.execute())
        except RedisError as error:
            raise PressureUnavailable(f"redis: {type(error).__name__}") from None


class ScriptRunner:
    """Runs one Lua script for many key sets, pipelined: one round trip per Redis node.

    On a single server (or fakeredis) it is one pipeline. On a Redis Cluster,
    redis-py refuses scripts inside a cluster pipeline, so the calls are grouped
    by the node that owns their hash slot, and each group is one pipeline on that
    node's own connection; a topology change (MOVED, ASK) refreshes the slot map
    and the whole run is tried again.
    """

    def __init__(self, redis: Any, source: str):
        self._redis = redis
        self._script = redis.register_script(source)
        self._source = source
        self._cluster = hasattr(redis, "get_node_from_key")

    def run(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        if not calls:
            return []
        if not self._cluster:
            if len(calls) == 1:  # a pipeline would first ask SCRIPT EXISTS: one more trip
                keys, args = calls[0]
                return [self._script(keys=keys, args=args)]
            pipeline = self._redis.pipeline(transaction=False)
            for keys, args in calls:
                self._script(keys=keys, args=args, client=pipeline)
            return list(pipeline.execute())
        return self._run_on_cluster(calls)

    def _run_on_cluster(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        from redis.exceptions import AskError, MovedError

        for attempt in range(3):
            groups: dict[str, tuple[Any, list[int]]] = {}
            for index, (keys, _) in enumerate(calls):
                node = self._redis.get_node_from_key(keys[0])
                groups.setdefault(node.name, (node, []))[1].append(index)
            replies: list[Any] = [None] * len(calls)
            try:
                for node, indexes in groups.values():
                    client = node.redis_connection
                    script = client.register_script(self._source)
                    pipeline = client.pipeline(transaction=False)
                    for index in indexes:
                        keys, args = calls[index]
                        script(keys=keys, args=args, client=pipeline)
                    for index, reply in zip(indexes, pipeline.execute(), strict=True):
                        replies[index] = reply
            except (MovedError, AskError):
                if attempt == 2:
                    raise
                self._redis.nodes_manager.initialize()
                continue
            return replies
        raise AssertionError("unreachable")


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
