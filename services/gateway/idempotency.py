"""`Idempotency-Key` on the POSTs that take a token: a retried request gets the first answer.

The first request with a key holds it in Redis while it runs (a second one meanwhile
gets 409), then keeps its answer (status, the headers that matter, body) for the
settings' TTL, 24 h by default; a retry with the same key and the same request is
answered from Redis, marked `Idempotency-Replayed: true`, without calling any
service; the same key with another request is a 422. Records are per caller (token
subject and component), method and path, so another caller's key never finds
them. 2xx and 4xx answers are kept; a 5xx (or a 429) is not, so a retry after an
outage runs again. Contact imports resume by `import_id` instead (a file upload is
not held in memory to be compared).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from redis.exceptions import RedisError

from meshkit.errors import DomainError, Unavailable, invalid
from services.gateway.api import Access, Operation
from services.gateway.auth import principal

log = logging.getLogger(__name__)

EXTENSION = "crm.gateway.idempotency"
HEADER = "Idempotency-Key"
REPLAYED = "Idempotency-Replayed"
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft asks
KEPT_HEADERS = ("Content-Type", "Location", "ETag")

# Take the key when nobody holds it; otherwise say what is there.
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'running', 'fingerprint', ARGV[1], 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {}
end
return redis.call('HGETALL', KEYS[1])
"""
# Keep the answer, unless the hold was lost (it outlived its lock and someone else took it).
_FINISH = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[3], 'headers', ARGV[4], 'body', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_ABANDON = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class KeyReused(DomainError):
    """The key was used before for another request."""

    grpc_code = "INVALID_ARGUMENT"
    http_status = 422
    title = "Idempotency key reused"


class StillRunning(DomainError):
    """The first request with this key has not answered yet."""

    grpc_code = "ABORTED"
    http_status = 409
    title = "Request in progress"


def applies(operation: Operation) -> bool:
    """True for the operations that honour Idempotency-Key (every POST taking a token)."""
    return (
        operation.method == "POST"
        and operation.access is not Access.PUBLIC
        and not (operation.upload)
    )


@dataclass(frozen=True)
class Answer:
    """A kept answer."""

    status: int
    headers: dict[str, str]
    body: bytes


class IdempotencyStore:
    """Holds keys while their request runs and keeps their answers, in Redis."""

    def __init__(self, redis: Any, prefix: str, ttl_seconds: int, lock_seconds: int) -> None:
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)
        self._abandon = redis.register_script(_ABANDON)
        self._prefix = prefix
        self.ttl_ms = ttl_seconds * 1000
        self.lock_ms = lock_seconds * 1000

    def record_key(self, caller: str, method: str, path: str, key: str) -> str:
        """The Redis key of one caller's key on one route (a digest: no subject in Redis)."""
        digest = hashlib.sha256("\x00".join((caller, method, path, key)).encode()).hexdigest()
        return f"{self._prefix}idempotency:{digest}"

    def begin(self, record: str, fingerprint: str, owner: str) -> dict[str, str] | None:
        """None when this request now holds the key; else what the key holds."""
        found = self._begin(keys=[record], args=[fingerprint, owner, self.lock_ms])
        if not found:
            return None
        return dict(zip(found[::2], found[1::2], strict=True))

    def finish(self, record: str, owner: str, answer: Answer) -> None:
        """Keeps the answer for the TTL."""
        headers = json.dumps(answer.headers)
        body = base64.b64encode(answer.body).decode()
        self._finish(keys=[record], args=[owner, self.ttl_ms, answer.status, headers, body])

    def abandon(self, record: str, owner: str) -> None:
        """Lets the key go without keeping an answer, so a retry runs again."""
        self._abandon(keys=[record], args=[owner])


@dataclass(frozen=True)
class Idempotency:
    """What the Flask hooks need."""

    store: IdempotencyStore
    operations: Mapping[str, Operation]


def install(app: Flask, store: IdempotencyStore, operations: Mapping[str, Operation]) -> None:
    """Honours Idempotency-Key after authentication and rate limits (a 429 is never kept)."""
    app.extensions[EXTENSION] = Idempotency(store, operations)
    app.before_request(begin)
    app.after_request(finish)
    app.teardown_request(release)


def _fingerprint() -> str:
    """What makes two requests the same: query string, media type and body."""
    digest = hashlib.sha256()
    for part in (request.query_string, (request.mimetype or "").encode()):
        digest.update(part + b"\x00")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def begin() -> Response | None:
    """Takes the key, or replays its answer, or refuses (409 running, 422 another request)."""
    setup: Idempotency = current_app.extensions[EXTENSION]
    operation = setup.operations.get(request.endpoint or "")
    key = request.headers.get(HEADER)
    if key is None or operation is None or not applies(operation):
        return None
    if not KEY.fullmatch(key):
        raise invalid(HEADER, "must be 1 to 255 visible ASCII characters")
    caller = principal()
    who = f"{caller.subject}\x00{caller.component or ''}"
    store = setup.store
    record = store.record_key(who, request.method, request.path, key)
    fingerprint, owner = _fingerprint(), secrets.token_hex(16)
    try:
        found = store.begin(record, fingerprint, owner)
    except (RedisError, OSError) as error:  # a lost Redis must not let a retry create twice
        raise Unavailable("idempotency keys cannot be checked now; retry later") from error
    if found is None:
        g.idempotency = (record, owner)
        return None
    if found.get("fingerprint") != fingerprint:
        raise KeyReused(
            f"this {HEADER} was used for another request: send a new key for a new request"
        )
    if found.get("state") != "done":
        raise StillRunning(f"the first request with this {HEADER} has not answered yet")
    return _replay(found)


def _replay(found: dict[str, str]) -> Response:
    response = Response(base64.b64decode(found["body"]), int(found["status"]))
    response.headers.clear()
    response.headers.update(json.loads(found["headers"]))
    response.headers[REPLAYED] = "true"
    return response


def finish(response: Response) -> Response:
    """Keeps a 2xx or 4xx answer (not a 429); lets the key go on anything else."""
    held: tuple[str, str] | None = g.pop("idempotency", None)
    if held is None:
        return response
    store: IdempotencyStore = current_app.extensions[EXTENSION].store
    status = response.status_code
    try:
        if status >= 500 or status == 429 or response.is_streamed:
            store.abandon(*held)
        else:
            kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
            store.finish(*held, Answer(status, kept, response.get_data()))
    except (RedisError, OSError) as error:
        # The work is done: answer it. A retry meets the held key (409) until the hold expires.
        log.warning("idempotency answer not kept: %s", type(error).__name__)
    return response


def release(_: BaseException | None) -> None:
    """A request that ended without an answer (a failure past the error handlers) lets go."""
    held: tuple[str, str] | None = g.pop("idempotency", None)
    if held is not None:
        try:
            current_app.extensions[EXTENSION].store.abandon(*held)
        except (RedisError, OSError) as error:
            log.warning("idempotency key not released: %s", type(error).__name__)
