"""A real `crm serve consent` process on a fresh PostgreSQL database, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from sqlalchemy import create_engine

from protos.crm.consent.v1 import consent_pb2_grpc
from tests.integration.consent.harness import RunningConsent
from tests.support.processes import free_port, service_process, wait_grpc_healthy
from tests.support.stores import fresh_postgres
from tests.support.tokens import TestKeys


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> TestKeys:
    return TestKeys(tmp_path_factory.mktemp("consent-keys"))


@pytest.fixture(scope="module")
def consent(keys: TestKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningConsent]:
    logs = tmp_path_factory.mktemp("consent-logs")
    with fresh_postgres("consent") as url:
        target = f"127.0.0.1:{free_port()}"
        env = {
            **keys.env("CONSENT_"),
            "CONSENT_LISTEN": target,
            "CONSENT_DATABASE_URL": url,
            "CRM_HOME": str(logs / "home"),
        }
        with service_process("consent", env, logs):
            try:
                wait_grpc_healthy(target)
            except TimeoutError:
                raise AssertionError((logs / "consent.log").read_text()) from None
            engine = create_engine(url)
            try:
                with grpc.insecure_channel(target) as channel:
                    stub = consent_pb2_grpc.ConsentServiceStub(channel)
                    yield RunningConsent(target, stub, channel, keys, engine, logs / "consent.log")
            finally:
                engine.dispose()
