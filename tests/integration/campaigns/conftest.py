"""Fixtures of the campaigns integration tests: a migrated PostgreSQL database, Redis keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from meshkit.db import make_engine
from services.campaigns.bootstrap import migrate_schema
from tests.support.stores import REDIS_URL, fresh_postgres, redis_prefix


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database with the campaigns schema, for one test module."""
    with fresh_postgres("campaigns") as url:
        engine = make_engine(url)
        migrate_schema(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def redis_client() -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: Any) -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    value = redis_prefix()
    yield value
    delete_keys(redis_client, value)


def delete_keys(client: Any, prefix: str) -> int:
    """Deletes every key under `prefix` (what losing Redis data looks like to us)."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)
