"""Fresh PostgreSQL databases and Redis key spaces for one test run.

CRM_TEST_POSTGRES is an admin URL of the server (default: local trust auth);
CRM_TEST_REDIS the Redis URL. Each test module gets databases of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "CRM_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/0")


# Dropping a database the services filled takes seconds (PostgreSQL checkpoints first):
# it is done by one background thread while the next test goes on. Its name is unique,
# so nothing waits for it; `finish_drops()` (session end) and interpreter exit wait.
_dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-database")
_drops: list[Future[None]] = []


@contextmanager
def fresh_postgres(name: str) -> Iterator[str]:
    """Creates an empty database, yields its URL, drops it afterwards (in the background)."""
    database = f"crm_test_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
    finally:
        _drops.append(_dropper.submit(_drop, admin, database))


def _drop(admin: Engine, database: str) -> None:
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def finish_drops() -> list[str]:
    """Waits for every database drop asked so far; returns the failures' descriptions."""
    failures = []
    while _drops:
        error = _drops.pop().exception()
        if error is not None:
            failures.append(f"{type(error).__name__}: {error}")
    return failures


def redis_prefix() -> str:
    """A key prefix no other test run uses, so tests never flush a shared Redis."""
    return f"crmtest-{uuid.uuid4().hex[:8]}:"


def forget_redis_prefix(prefix: str) -> None:
    """Deletes every key a test run wrote under its prefix."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()
