"""Pressure counters in Redis: one atomic check-and-reserve per delivery, pipelined per batch.

Each contact has a sorted set of the deliveries that used a slot of the
rolling window (member "campaign_id:contact_id", score = ms since epoch) and a
"rebuilt" marker saying the set agrees with the ledger. Both keys carry the
hash tag {contact_id}, so a script call touches one Redis Cluster slot, and a
shard that restarts empty loses its markers together with its counters. (One
global marker key would sit in another slot, CROSSSLOT inside a script, and
would survive the loss of a shard that held counters.)

When the marker is missing (Redis lost its data, or the contact has not been
seen for a whole window), the counters of that contact are rebuilt from the
ledger before anything is granted: one ledger query per batch for the contacts
concerned. A rebuild only adds slots the ledger proves, so two workers
rebuilding the same contact at once agree and need no lock between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError

from services.campaigns.ledger import Clock, RecentSend, utc_now
from services.campaigns.policy import PressureAnswer, PressureRule, Verdict

log = logging.getLogger(__name__)

# KEYS[1] the contact's slots, KEYS[2] its rebuilt marker.
# ARGV[1] delivery member, ARGV[2] max per window, ARGV[3] window in ms.
RESERVE_LUA = """
local slots, marker = KEYS[1], KEYS[2]
local member, max, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if redis.call('EXISTS', marker) == 0 then
  return {'rebuild', now, 0}
end
redis.call('PEXPIRE', marker, window)
redis.call('ZREMRANGEBYSCORE', slots, '-inf', string.format('%.0f', now - window))
if redis.call('ZSCORE', slots, member) then
  return {'reserved', now, 0}
end
if redis.call('ZCARD', slots) < max then
  redis.call('ZADD', slots, string.format('%.0f', now), member)
  redis.call('PEXPIRE', slots, window)
  return {'allowed', now, 0}
end
local oldest = redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')
return {'capped', now, tonumber(oldest[2]) + window}
"""

History = Callable[[Sequence[str], datetime], list[RecentSend]]
_REBUILD_ROUNDS = 3
# Worker clocks and Redis' clock differ a little: read the ledger a bit further back.
_CLOCK_MARGIN = timedelta(minutes=5)


class PressureUnavailable(Exception):
    """The counters could not be trusted (e.g. Redis kept losing them): send nothing now."""


def member(campaign_id: str, contact_id: str) -> str:
    return f"{campaign_id}:{contact_id}"


class PressureCounters:
    """Check-and-reserve of the pressure rule for deliveries of one campaign."""

    def __init__(
        self,
        redis: Any,
        prefix: str,
        rule: PressureRule,
        history: History,
        clock: Clock = utc_now,
    ):
        self._redis = redis
        self._prefix = prefix
        self._rule = rule
        self._history = history
        self._clock = clock
        # register_script reloads the script by itself after NOSCRIPT (restart, failover).
        self._script = redis.register_script(RESERVE_LUA)

    @property
    def rule(self) -> PressureRule:
        return self._rule

    def slots_key(self, contact_id: str) -> str:
        return f"{self._prefix}pressure:{{{contact_id}}}:{self._rule.name}"

    def marker_key(self, contact_id: str) -> str:
        return f"{self._prefix}pressure:{{{contact_id}}}:rebuilt"

    def reserve(self, campaign_id: str, contact_ids: Sequence[str]) -> dict[str, PressureAnswer]:
        """One slot per contact for this campaign, or capped; one round trip when counters exist."""
        answers: dict[str, PressureAnswer] = {}
        todo = list(dict.fromkeys(contact_ids))
        for _ in range(_REBUILD_ROUNDS):
            if not todo:
                return answers
            lost: list[str] = []
            for contact_id, reply in zip(todo, self._run(campaign_id, todo), strict=True):
                verdict, now_ms, retry_at_ms = reply
                if verdict == "rebuild":
                    lost.append(contact_id)
                else:
                    answers[contact_id] = PressureAnswer(
                        Verdict(verdict), int(now_ms), int(retry_at_ms)
                    )
            if lost:
                self.rebuild(lost)
            todo = lost
        if todo:
            raise PressureUnavailable("pressure counters kept disappearing during a rebuild")
        return answers

    def release(self, campaign_id: str, contact_ids: Sequence[str]) -> None:
        """Frees the slots of deliveries that did not leave (temporary or permanent failure)."""
        if not contact_ids:
            return
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipeline.zrem(self.slots_key(contact_id), member(campaign_id, contact_id))
        try:
            pipeline.execute()
        except RedisError as error:
            raise PressureUnavailable(f"redis: {type(error).__name__}") from None

    def rebuild(self, contact_ids: Sequence[str]) -> None:
        """Reloads these contacts' slots from the ledger, then marks them rebuilt."""
        since = self._clock() - timedelta(seconds=self._rule.window_seconds) - _CLOCK_MARGIN
        sends = self._history(contact_ids, since)
        window_ms = self._rule.window_ms
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            mine = {
                member(s.campaign_id, s.contact_id): int(s.at.timestamp() * 1000)
                for s in sends
                if s.contact_id == contact_id
            }
            if mine:
                pipeline.zadd(self.slots_key(contact_id), mine)
                pipeline.pexpire(self.slots_key(contact_id), window_ms)
            pipeline.set(self.marker_key(contact_id), "1", px=window_ms)
        try:
            pipeline.execute()
        except RedisError as error:
            raise PressureUnavailable(f"redis: {type(error).__name__}") from None
        log.info("rebuilt pressure counters of %d contacts from the ledger", len(contact_ids))

    def forget(self, contact_ids: Sequence[str]) -> None:
        """Drops these contacts' rebuilt markers: their next check rebuilds from the ledger."""
        self._redis.delete(*[self.marker_key(c) for c in contact_ids])

    def slots(self, contact_ids: Sequence[str]) -> list[tuple[str, int]]:
        """(campaign id, ms since epoch) of each slot these contacts hold now, oldest first."""
        pipeline = self._redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipeline.zrange(self.slots_key(contact_id), 0, -1, withscores=True)
        found = [
            (_text(name).partition(":")[0], int(score))
            for reply in pipeline.execute()
            for name, score in reply
        ]
        return sorted(found, key=lambda slot: slot[1])

    def drop(self, contact_ids: Sequence[str]) -> int:
        """Deletes these contacts' slots and rebuilt markers (an erasure); how many keys went."""
        keys = [k for c in contact_ids for k in (self.slots_key(c), self.marker_key(c))]
        return int(self._redis.delete(*keys)) if keys else 0

    def _run(self, campaign_id: str, contact_ids: Sequence[str]) -> list[Any]:
        # A pipeline first asks SCRIPT EXISTS (one more round trip); a lone call does not.
        client = self._redis.pipeline(transaction=False) if len(contact_ids) > 1 else None
        try:
            replies = [
                self._script(
                    keys=[self.slots_key(contact_id), self.marker_key(contact_id)],
                    args=[
                        member(campaign_id, contact_id),
                        self._rule.max_per_window,
                        self._rule.window_ms,
                    ],
                    client=client,
                )
                for contact_id in contact_ids
            ]
            if client is not None:
                replies = client.execute()
        except RedisError as error:
            raise PressureUnavailable(f"redis: {type(error).__name__}") from None
        return [[_text(v) for v in reply] for reply in replies]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
