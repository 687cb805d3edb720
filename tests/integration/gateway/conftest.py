"""The gateway as a real process (`crm serve gateway`) in front of real services.

contacts and consent (and campaigns, once it exists in the tree) run as their
own processes on fresh PostgreSQL databases; every call goes over HTTP to the
gateway, which forwards the caller's token over gRPC.

Each module gets a mesh of its own, unless it is marked `shared_gateway`: the
marked modules share one mesh, started by the first of them and stopped as soon
as the next test to run is not in such a module (so no more than one mesh of
this directory is up at a time; the marked modules run first, one after another).
Shared modules isolate their data by unique ids.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.integration.gateway.harness import UNSUBSCRIBE_SECRET, A, B, Gateway
from tests.support.mesh import Api
from tests.support.oidc import TestProvider
from tests.support.processes import (
    free_port,
    service_process,
    terminate_all,
    wait_grpc_healthy,
    wait_http_healthy,
)
from tests.support.stores import REDIS_URL, fresh_postgres, redis_prefix
from tests.support.tokens import TestKeys

SHARED = "shared_gateway"


def campaigns_available() -> bool:
    """Campaigns is written in parallel: its tests run once its bootstrap exists."""
    return importlib.util.find_spec("services.campaigns.bootstrap") is not None


def _service_env(
    name: str, keys: TestKeys, provider: TestProvider, port: int, database_url: str
) -> dict[str, str]:
    prefix = f"{name.upper()}_"
    return {
        **keys.env(prefix),
        **provider.env(prefix),
        f"{prefix}LISTEN": f"127.0.0.1:{port}",
        f"{prefix}DATABASE_URL": database_url,
    }


@contextmanager
def running_gateway(folder: Path) -> Iterator[Gateway]:
    """Starts contacts, consent, campaigns and the gateway, with components A and B."""
    keys = TestKeys(folder / "keys")
    logs = folder / "logs"
    names = ["contacts", "consent"] + (["campaigns"] if campaigns_available() else [])
    ports = {name: free_port() for name in [*names, "campaigns", "gateway"]}
    home = {"CRM_HOME": str(folder / "home")}
    urls: dict[str, str] = {}
    processes = []
    with ExitStack() as stack:
        # The identity provider the console signs people in with (and every service trusts).
        provider = TestProvider("EC")
        stack.callback(provider.close)
        for name in names:
            url = urls[name] = stack.enter_context(fresh_postgres(f"gw_{name}"))
            env = {**home, **_service_env(name, keys, provider, ports[name], url)}
            env["CONSENT_CONTACTS_TARGET"] = f"127.0.0.1:{ports['contacts']}"
            env["CONTACTS_CONSENT_TARGET"] = f"127.0.0.1:{ports['consent']}"
            if name == "campaigns":
                env |= {
                    "CAMPAIGNS_CONTACTS_TARGET": f"127.0.0.1:{ports['contacts']}",
                    "CAMPAIGNS_CONSENT_TARGET": f"127.0.0.1:{ports['consent']}",
                    "CAMPAIGNS_REDIS_URL": REDIS_URL,
                    "CAMPAIGNS_REDIS_KEY_PREFIX": redis_prefix(),
                    "CAMPAIGNS_SMTP_PORT": str(free_port()),  # nothing is sent by these tests
                    "CAMPAIGNS_UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
                }
            processes.append(stack.enter_context(service_process(name, env, logs)))
        gateway_port = ports["gateway"]
        env = {
            **home,
            **keys.env("GATEWAY_"),
            **provider.env("GATEWAY_"),
            "GATEWAY_CONSOLE_OIDC_ISSUER": provider.issuer,
            "GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}",
            "GATEWAY_CONTACTS_TARGET": f"127.0.0.1:{ports['contacts']}",
            "GATEWAY_CONSENT_TARGET": f"127.0.0.1:{ports['consent']}",
            "GATEWAY_CAMPAIGNS_TARGET": f"127.0.0.1:{ports['campaigns']}",
            "GATEWAY_UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
            "GATEWAY_RPC_TIMEOUT_SECONDS": "5",
        }
        processes.append(stack.enter_context(service_process("gateway", env, logs)))
        # On the way out every process gets SIGTERM at once: they stop side by side.
        stack.callback(terminate_all, processes)
        for name in names:
            wait_grpc_healthy(f"127.0.0.1:{ports[name]}", timeout=60)
        base = f"http://127.0.0.1:{gateway_port}"
        wait_http_healthy(f"{base}/healthz", timeout=60)
        targets = {name: f"127.0.0.1:{ports[name]}" for name in names}
        databases = {name: create_engine(url) for name, url in urls.items()}
        for engine in databases.values():
            stack.callback(engine.dispose)
        running = Gateway(
            Api(base),
            keys,
            logs,
            campaigns_available(),
            databases["contacts"],
            targets,
            databases,
            provider,
        )
        for component in (A, B):
            reply = running.api.call(
                "POST", "/v1/components", keys.admin(), {"id": component, "name": component.title()}
            )
            assert reply.status == 201, reply.text
        yield running


class _Shared:
    """The one mesh the `shared_gateway` modules use, started on first use."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self._running: Gateway | None = None

    def get(self, tmp_path_factory: pytest.TempPathFactory) -> Gateway:
        if self._running is None:
            with ExitStack() as stack:
                folder = tmp_path_factory.mktemp("gateway-shared")
                self._running = stack.enter_context(running_gateway(folder))
                self._stack = stack.pop_all()
        return self._running

    def close(self) -> None:
        stack, self._stack, self._running = self._stack, None, None
        if stack is not None:
            stack.close()


_shared = _Shared()


def _is_shared(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker(SHARED) is not None


@pytest.fixture(scope="module")
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    if request.node.get_closest_marker(SHARED) is not None:
        yield _shared.get(tmp_path_factory)
        return
    with running_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Runs this directory's shared modules one after another (in their order), before its
    other modules, so the shared mesh starts once however the files are named."""
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if here in item.path.parents]
    mine = [items[i] for i in slots]
    ordered = [item for item in mine if _is_shared(item)]
    ordered += [item for item in mine if not _is_shared(item)]
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Stops the shared mesh once the next test (if any) is not in a shared module."""
    yield
    if _is_shared(item) and not _is_shared(nextitem):
        _shared.close()


def pytest_sessionfinish() -> None:
    _shared.close()  # an interrupted run
