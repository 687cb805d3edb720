"""Per-caller rate limits, counted atomically in Redis, with the IETF RateLimit headers.

Each budget is a fixed one-minute window (not a sliding one): one Lua script
increments every budget a request spends from, so concurrent requests on several
gateway replicas never lose a count; at a window's edge a caller can spend up to
two budgets within sixty seconds, the known price of fixed windows. A caller is
the verified token's subject and component (so minting a new token does not
reset the count); a public page is counted per client IP. Health and the OpenAPI
document are not counted, nor a request whose URL proves it genuine (`free_when`: a
one-click unsubscribe whose token verifies), so a mailbox provider's burst of them after
a large mailing is never refused. The console's pages are counted the same way (`count_page`):
a signed-in person's against their own budgets, shared with their API calls; the sign-in
pages per client IP; its static files not at all. The headers follow
draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` (each budget's quota `q` and
window `w`) and `RateLimit` (what remains, `r`, and the seconds until it resets, `t`), on
every limited answer; `Retry-After` with the 429.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from redis.exceptions import RedisError

from meshkit.errors import DomainError
from meshkit.identity import Principal
from services.gateway.api import Access, Operation
from services.gateway.auth import principal

log = logging.getLogger(__name__)

EXTENSION = "crm.gateway.ratelimit"
WINDOW_SECONDS = 60
READS = frozenset({"GET", "HEAD"})

# INCR every budget's counter of the current window; the first request of a window sets its
# expiry, so old windows clean themselves up. One key slot per caller (the {hash tag}).
_HIT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local used = redis.call('INCR', key)
  if used == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = used
end
return counts
"""


class RateLimited(DomainError):
    """The caller spent a budget; Retry-After says when the next window opens."""

    grpc_code = "RESOURCE_EXHAUSTED"
    http_status = 429
    title = "Too many requests"


@dataclass(frozen=True)
class Budget:
    """A named number of requests per window."""

    name: str
    quota: int


@dataclass(frozen=True)
class Count:
    """How much of a budget the current window has used, and when it resets."""

    budget: Budget
    used: int
    reset_seconds: int

    @property
    def remaining(self) -> int:
        return max(0, self.budget.quota - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.budget.quota


def counted(operation: Operation) -> bool:
    """False for what is never limited: the public routes that call no service (health, docs)."""
    return operation.access is not Access.PUBLIC or operation.calls_upstream


@dataclass(frozen=True)
class Budgets:
    """The budgets the settings set: per caller, per caller's writes, per IP on public pages."""

    caller: int
    writes: int
    public: int

    def of(self, operation: Operation | None, method: str) -> list[Budget]:
        """The budgets a request to `operation` spends from (none for health and unknown routes)."""
        if operation is None or not counted(operation):
            return []
        if operation.access is Access.PUBLIC:
            return [Budget("public", self.public)] if self.public else []
        budgets = [Budget("caller", self.caller)] if self.caller else []
        if self.writes and method not in READS:
            budgets.append(Budget("writes", self.writes))
        return budgets


class RateLimiter:
    """Counts requests in Redis, one key per (who, budget, window)."""

    def __init__(self, redis: Any, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._hit = redis.register_script(_HIT)
        self._prefix = prefix
        self._clock = clock

    def hit(self, who: str, budgets: list[Budget]) -> list[Count]:
        """Counts one request against each budget; returns where each now stands."""
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        reset = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        # Subjects are often addresses: only a digest of who reaches Redis.
        tag = hashlib.sha256(who.encode()).hexdigest()[:32]
        keys = [f"{self._prefix}ratelimit:{{{tag}}}:{b.name}:{window}" for b in budgets]
        used = self._hit(keys=keys, args=[WINDOW_SECONDS + 1])
        return [Count(b, int(n), reset) for b, n in zip(budgets, used, strict=True)]


@dataclass(frozen=True)
class Limits:
    """What the Flask hooks need: the limiter, the budgets and the operations by endpoint."""

    limiter: RateLimiter
    budgets: Budgets
    operations: Mapping[str, Operation]


def install(
    app: Flask, limiter: RateLimiter, budgets: Budgets, operations: Mapping[str, Operation]
) -> None:
    """Counts every request after authentication; adds the headers to every limited answer."""
    app.extensions[EXTENSION] = Limits(limiter, budgets, operations)
    app.before_request(count)
    app.after_request(headers)


def count() -> None:
    """Counts the request; raises RateLimited (429) when a budget is spent."""
    limits: Limits = current_app.extensions[EXTENSION]
    operation = limits.operations.get(request.endpoint or "")
    budgets = limits.budgets.of(operation, request.method)
    if not budgets or operation is None:
        return
    if operation.free_when is not None and operation.free_when(request.view_args or {}):
        return
    who = _client_ip() if operation.access is Access.PUBLIC else _caller(principal())
    _spend(limits, who, budgets)


def count_page(person: Principal | None) -> None:
    """Counts a console page like an API request: a signed-in person's from their own
    budgets (the same as their API calls), a signed-out visitor's (the sign-in pages)
    per client IP. RateLimited (429) when a budget is spent."""
    limits: Limits | None = current_app.extensions.get(EXTENSION)
    if limits is None:
        return
    budgets = limits.budgets
    if person is None:
        spent = [Budget("public", budgets.public)] if budgets.public else []
        who = _client_ip()
    else:
        spent = [Budget("caller", budgets.caller)] if budgets.caller else []
        if budgets.writes and request.method not in READS:
            spent.append(Budget("writes", budgets.writes))
        who = _caller(person)
    if spent:
        _spend(limits, who, spent)


def _client_ip() -> str:
    return f"ip:{request.remote_addr or ''}"


def _caller(caller: Principal) -> str:
    return f"caller:{caller.subject}\x00{caller.component or ''}"


def _spend(limits: Limits, who: str, budgets: list[Budget]) -> None:
    """Counts one request of `who` against `budgets`; RateLimited when one is spent."""
    try:
        counts = limits.limiter.hit(who, budgets)
    except (RedisError, OSError) as error:  # a Redis outage must not take the API down
        log.warning("rate limits not counted: %s", type(error).__name__)
        return
    g.rate_counts = counts
    spent = [c for c in counts if c.exceeded]
    if spent:
        wait = max(c.reset_seconds for c in spent)
        names = ", ".join(c.budget.name for c in spent)
        raise RateLimited(f"the {names} budget is spent for this minute; retry in {wait} s")


def headers(response: Response) -> Response:
    """RateLimit-Policy and RateLimit on a counted answer, Retry-After on a 429."""
    counts: list[Count] | None = g.pop("rate_counts", None)
    if not counts:
        return response
    response.headers["RateLimit-Policy"] = ", ".join(
        f'"{c.budget.name}";q={c.budget.quota};w={WINDOW_SECONDS}' for c in counts
    )
    response.headers["RateLimit"] = ", ".join(
        f'"{c.budget.name}";r={c.remaining};t={c.reset_seconds}' for c in counts
    )
    spent = [c.reset_seconds for c in counts if c.exceeded]
    if spent:
        response.headers["Retry-After"] = str(max(spent))
    return response
