"""Campaigns integration fixtures: PostgreSQL, Redis keys, real contacts and consent processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from meshkit.db import Database, make_engine
from services.campaigns.bootstrap import migrate_schema
from services.campaigns.clients import GrpcDirectory, GrpcPurposeCatalogue
from tests.integration.campaigns.peers import CallLog, Peers, logged_channel, serve_peers
from tests.support.stores import REDIS_URL, fresh_postgres, redis_prefix
from tests.support.tokens import TestKeys

# Components every test may use; a test that needs a component to itself registers its own.
COMPONENTS = ("sciences", "lettres")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database with the campaigns schema, for one test module."""
    with fresh_postgres("campaigns") as url:
        engine = make_engine(url)
        migrate_schema(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def db(pg_url: str) -> Iterator[Database]:
    """The campaigns database of the module, as the service layer uses it."""
    engine = make_engine(pg_url)
    yield Database(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> TestKeys:
    """The one key pair every process of the session trusts and signs with."""
    return TestKeys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def peers(keys: TestKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """Real contacts and consent processes, with the shared components registered."""
    with serve_peers(keys, tmp_path_factory.mktemp("peers")) as running:
        for component in COMPONENTS:
            running.add_component(component)
        yield running


@pytest.fixture
def directory(peers: Peers, keys: TestKeys) -> Iterator[tuple[GrpcDirectory, CallLog]]:
    """The real contacts service as campaigns reaches it, and a log of the calls made to it."""
    calls = CallLog()
    identity = keys.identity("campaigns")
    channel = logged_channel(peers.contacts_target, identity.token, 10.0, calls)
    yield GrpcDirectory(channel), calls
    channel.close()


@pytest.fixture
def purposes(peers: Peers, keys: TestKeys) -> Iterator[tuple[GrpcPurposeCatalogue, CallLog]]:
    """The real consent catalogue as campaigns reads it, and a log of the calls made to it."""
    calls = CallLog()
    identity = keys.identity("campaigns")
    channel = logged_channel(peers.consent_target, identity.token, 10.0, calls)
    yield GrpcPurposeCatalogue(channel), calls
    channel.close()


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
