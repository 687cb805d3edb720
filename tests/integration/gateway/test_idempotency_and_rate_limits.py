"""Idempotency-Key and rate limits of the gateway, kept in the real Redis.

The Flask app runs in this process over a stand-in for contacts that counts its
calls (so a replay is seen not to reach the service) and can hold a call open (so a
second request arrives while the first still runs). Each test writes under a
Redis key prefix of its own.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import idempotency, ratelimit
from services.gateway.app import create_app
from services.gateway.clients import Clients
from services.gateway.settings import GatewaySettings
from tests.support.stores import REDIS_URL, forget_redis_prefix, redis_prefix
from tests.support.tokens import AUDIENCE, ISSUER, TestKeys
from tests.unit.gateway.harness import UNSUBSCRIBE_SECRET, assert_problem, bearer

KEY = "Idempotency-Key"
NEW = {"id": "sciences", "name": "Faculté des sciences"}


class Unavailable(grpc.RpcError):
    """What a stub raises when the service does not answer."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "down"


class Contacts:
    """Stands in for ContactsService: counts calls, can fail once or hold a call open."""

    def __init__(self) -> None:
        self.creations = 0
        self.lists = 0
        self.fail_next = False
        self.hold: threading.Event | None = None
        self.entered = threading.Event()

    def CreateComponent(self, request: Any) -> contacts_pb2.Component:  # noqa: N802
        self.entered.set()
        if self.hold is not None:
            assert self.hold.wait(timeout=30)
        if self.fail_next:
            self.fail_next = False
            raise Unavailable()
        self.creations += 1
        return contacts_pb2.Component(id=request.id, name=f"{request.name} #{self.creations}")

    def ListComponents(self, request: Any) -> contacts_pb2.ListComponentsResponse:  # noqa: N802
        self.lists += 1
        return contacts_pb2.ListComponentsResponse()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> TestKeys:
    return TestKeys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def prefix() -> Iterator[str]:
    value = redis_prefix()
    yield value
    forget_redis_prefix(value)


@pytest.fixture
def store() -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def contacts() -> Contacts:
    return Contacts()


def make_app(
    keys: TestKeys, prefix: str, store: Any, contacts: Contacts, **overrides: Any
) -> Flask:
    settings = GatewaySettings(
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=keys.public_file,
        service_private_key_file=keys.private_file,
        unsubscribe_secret=UNSUBSCRIBE_SECRET,
        redis_key_prefix=prefix,
        **overrides,
    )
    nothing: Any = None
    clients = Clients(
        contacts=contacts,  # type: ignore[arg-type]
        consent=nothing,
        campaigns=nothing,
        interactions=nothing,
        pressure=nothing,
        consent_as_gateway=nothing,
        campaigns_as_gateway=nothing,
        contacts_as_gateway=contacts,  # type: ignore[arg-type]
    )
    return create_app(settings, clients, redis=store)


@pytest.fixture
def client(keys: TestKeys, prefix: str, store: Any, contacts: Contacts) -> FlaskClient:
    return make_app(keys, prefix, store, contacts, idempotency_ttl_seconds=7).test_client()


def admin(keys: TestKeys, subject: str = "admin@grouping") -> dict[str, str]:
    return bearer(keys.issuer.mint(subject, roles=["admin"]))


def post(client: FlaskClient, headers: dict[str, str], key: str, body: Any = NEW) -> Any:
    return client.post("/v1/components", json=body, headers={**headers, KEY: key})


# -- Idempotency-Key ----------------------------------------------------------------------


def test_a_retry_gets_the_first_answer_without_reaching_the_service(
    client: FlaskClient, keys: TestKeys, contacts: Contacts
) -> None:
    first = post(client, admin(keys), "create-sciences-1")
    again = post(client, admin(keys), "create-sciences-1")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() == {"id": "sciences", "name": f"{NEW['name']} #1"}
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert "Idempotency-Replayed" not in first.headers
    assert contacts.creations == 1
    other_key = post(client, admin(keys), "create-sciences-2")
    assert other_key.status_code == 201 and contacts.creations == 2


def test_the_same_key_for_another_body_is_a_422(
    client: FlaskClient, keys: TestKeys, contacts: Contacts
) -> None:
    assert post(client, admin(keys), "k-422").status_code == 201
    problem = assert_problem(post(client, admin(keys), "k-422", {**NEW, "name": "Other"}), 422)
    assert KEY in problem["detail"]
    assert contacts.creations == 1


def test_a_second_request_while_the_first_runs_is_a_409(
    client: FlaskClient, keys: TestKeys, contacts: Contacts
) -> None:
    contacts.hold = threading.Event()
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(post(client, admin(keys), "slow")))
    first.start()
    try:
        assert contacts.entered.wait(timeout=30)
        assert_problem(post(client, admin(keys), "slow"), 409)
    finally:
        contacts.hold.set()
        first.join(timeout=30)
    assert answers[0].status_code == 201
    replay = post(client, admin(keys), "slow")
    assert replay.status_code == 201 and replay.headers["Idempotency-Replayed"] == "true"
    assert contacts.creations == 1


def test_another_caller_with_the_same_key_is_not_served_the_first_answer(
    client: FlaskClient, keys: TestKeys, contacts: Contacts
) -> None:
    assert post(client, admin(keys), "shared-key").status_code == 201
    theirs = post(client, admin(keys, "other-admin@grouping"), "shared-key")
    assert theirs.status_code == 201 and "Idempotency-Replayed" not in theirs.headers
    assert theirs.get_json()["name"].endswith("#2")
    assert contacts.creations == 2


def test_a_5xx_is_not_kept_so_a_retry_after_an_outage_runs(
    client: FlaskClient, keys: TestKeys, contacts: Contacts
) -> None:
    contacts.fail_next = True
    assert_problem(post(client, admin(keys), "outage"), 503)
    retried = post(client, admin(keys), "outage")
    assert retried.status_code == 201 and "Idempotency-Replayed" not in retried.headers
    assert contacts.creations == 1


def test_a_4xx_is_kept_and_replayed(client: FlaskClient, keys: TestKeys) -> None:
    bad = {"id": "Not A Slug!", "name": "x"}
    first = assert_problem(post(client, admin(keys), "bad-body", bad), 400)
    again = post(client, admin(keys), "bad-body", bad)
    assert assert_problem(again, 400) == first
    assert again.headers["Idempotency-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", "a b", "clé", "x" * 256, "tab\there"])
def test_a_malformed_key_is_refused_before_anything_runs(
    client: FlaskClient, keys: TestKeys, contacts: Contacts, key: str
) -> None:
    response = client.post(
        "/v1/components",
        json=NEW,
        headers={**admin(keys), KEY: key.encode("utf-8").decode("latin-1")},
    )
    problem = assert_problem(response, 400)
    assert [e["field"] for e in problem["errors"]] == [KEY]
    assert contacts.creations == 0


def test_the_answer_is_kept_for_the_ttl_setting_and_the_key_is_free_after_it(
    client: FlaskClient, keys: TestKeys, contacts: Contacts, store: Any, prefix: str
) -> None:
    assert post(client, admin(keys), "ttl").status_code == 201
    (record,) = store.keys(f"{prefix}idempotency:*")
    assert 0 < store.pttl(record) <= 7000  # idempotency_ttl_seconds=7
    assert "admin@grouping" not in record  # the caller is a digest in Redis
    store.delete(record)  # what expiry does
    again = post(client, admin(keys), "ttl", {**NEW, "name": "Renamed"})
    assert again.status_code == 201 and "Idempotency-Replayed" not in again.headers
    assert contacts.creations == 2


# -- rate limits ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0 + 15  # 15 s into a window

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(
    keys: TestKeys, prefix: str, store: Any, contacts: Contacts, clock: Clock
) -> FlaskClient:
    app = make_app(
        keys, prefix, store, contacts, rate_limit_per_minute=3, rate_limit_writes_per_minute=2
    )
    limits: ratelimit.Limits = app.extensions[ratelimit.EXTENSION]
    limiter = ratelimit.RateLimiter(store, prefix, clock)
    app.extensions[ratelimit.EXTENSION] = dataclasses.replace(limits, limiter=limiter)
    return app.test_client()


def test_headers_count_down_then_429_with_retry_after_then_reset(
    limited: FlaskClient, keys: TestKeys, contacts: Contacts, clock: Clock
) -> None:
    remaining = []
    for _ in range(3):
        reply = limited.get("/v1/components", headers=admin(keys))
        assert reply.status_code == 200
        assert reply.headers["RateLimit-Policy"] == '"caller";q=3;w=60'
        remaining.append(reply.headers["RateLimit"])
    assert remaining == ['"caller";r=2;t=45', '"caller";r=1;t=45', '"caller";r=0;t=45']
    over = limited.get("/v1/components", headers=admin(keys))
    assert_problem(over, 429)
    assert over.headers["Retry-After"] == "45"
    assert over.headers["RateLimit"] == '"caller";r=0;t=45'
    assert contacts.lists == 3  # the refused request never reached the service
    clock.now += 45  # the next window
    reset = limited.get("/v1/components", headers=admin(keys))
    assert reset.status_code == 200 and reset.headers["RateLimit"] == '"caller";r=2;t=60'


def test_writes_spend_their_own_tighter_budget_too(
    limited: FlaskClient, keys: TestKeys, contacts: Contacts
) -> None:
    first = post(limited, admin(keys), "w1")
    assert first.headers["RateLimit-Policy"] == '"caller";q=3;w=60, "writes";q=2;w=60'
    assert first.headers["RateLimit"] == '"caller";r=2;t=45, "writes";r=1;t=45'
    assert post(limited, admin(keys), "w2").status_code == 201
    over = post(limited, admin(keys), "w3")
    assert_problem(over, 429)
    assert "writes" in over.get_json()["detail"]
    assert contacts.creations == 2


def test_each_caller_has_its_own_budget_and_health_is_not_counted(
    limited: FlaskClient, keys: TestKeys
) -> None:
    for _ in range(4):
        limited.get("/v1/components", headers=admin(keys))
    assert limited.get("/v1/components", headers=admin(keys)).status_code == 429
    theirs = limited.get("/v1/components", headers=admin(keys, "other@grouping"))
    assert theirs.status_code == 200 and theirs.headers["RateLimit"].startswith('"caller";r=2;')
    health = limited.get("/healthz")
    assert health.status_code == 200 and "RateLimit" not in health.headers


def test_a_429_is_not_kept_for_the_idempotency_key(
    limited: FlaskClient, keys: TestKeys, contacts: Contacts, clock: Clock
) -> None:
    for number in range(2):
        assert post(limited, admin(keys), f"spend-{number}").status_code == 201
    assert_problem(post(limited, admin(keys), "after-limit"), 429)
    clock.now += 60
    retried = post(limited, admin(keys), "after-limit")
    assert retried.status_code == 201 and "Idempotency-Replayed" not in retried.headers
    assert contacts.creations == 3


def test_console_pages_are_counted_per_person_with_their_api_calls_and_per_ip_signed_out(
    keys: TestKeys, prefix: str, store: Any, contacts: Contacts
) -> None:
    """The console spends the budgets the API does: a signed-in person's own (shared with
    their API calls), the sign-in pages' per IP; a spent budget is a 429 page."""
    app = make_app(
        keys,
        prefix,
        store,
        contacts,
        rate_limit_per_minute=3,
        rate_limit_public_per_minute=2,
        console_secret="integration-console-secret-0123456789abcdef",
    )
    browser = app.test_client()
    base = "https://localhost"  # the session cookie is Secure
    signed_out = [browser.get("/console/login", base_url=base) for _ in range(3)]
    assert [page.status_code for page in signed_out] == [200, 200, 429]
    over = signed_out[-1]
    assert over.mimetype == "text/html" and int(over.headers["Retry-After"]) >= 1
    assert over.headers["RateLimit-Policy"] == '"public";q=2;w=60'
    styles = [browser.get("/console/static/console.css", base_url=base) for _ in range(4)]
    assert {page.status_code for page in styles} == {200}  # the style sheet is not counted

    token = keys.issuer.mint("admin@grouping", roles=["admin"])
    with browser.session_transaction(base_url=base) as kept:
        kept["token"] = token
    assert browser.get("/console/login", base_url=base).status_code == 200  # not the IP's
    assert browser.get("/v1/components", headers=bearer(token)).status_code == 200
    page = browser.get("/console/login", base_url=base)
    assert page.status_code == 200 and page.headers["RateLimit"].startswith('"caller";r=0;')
    assert browser.get("/console/login", base_url=base).status_code == 429
    assert_problem(browser.get("/v1/components", headers=bearer(token)), 429)
    assert contacts.lists == 1


@pytest.mark.parametrize("hops", [0, 1])
def test_behind_a_trusted_proxy_each_client_has_its_own_ip_budget(
    keys: TestKeys, prefix: str, store: Any, contacts: Contacts, hops: int
) -> None:
    """Behind an Ingress every request comes from the proxy's address: with the proxy
    trusted, the per-IP budget is the client's (X-Forwarded-For); without, that header
    is ignored, so a client cannot forge a fresh address for each request."""
    app = make_app(
        keys,
        prefix,
        store,
        contacts,
        rate_limit_public_per_minute=2,
        forwarded_hops=hops,
        console_secret="integration-console-secret-0123456789abcdef",
    )
    browser = app.test_client()

    def page(client_ip: str) -> int:
        headers = {"X-Forwarded-For": client_ip, "X-Forwarded-Proto": "https"}
        answer = browser.get("/console/login", base_url="http://gateway", headers=headers)
        return int(answer.status_code)

    first = [page("203.0.113.7") for _ in range(3)]
    other = [page("198.51.100.9") for _ in range(2)]
    assert first == [200, 200, 429]
    assert other == ([200, 200] if hops else [429, 429])


class Consent:
    """Stands in for consent as the gateway: records the one-click withdrawals."""

    def __init__(self) -> None:
        self.withdrawals: list[str] = []

    def Withdraw(self, request: Any) -> Any:  # noqa: N802
        self.withdrawals.append(request.contact_id)
        return None


def test_a_burst_of_genuine_one_click_unsubscribes_is_never_refused_but_forged_ones_are(
    keys: TestKeys, prefix: str, store: Any, contacts: Contacts
) -> None:
    """A mailbox provider POSTs the one-click unsubscribes of a large mailing from a few
    addresses: each validly signed link is recorded, whatever the per-IP budget; a forged
    or altered link spends it like any public request."""
    app = make_app(keys, prefix, store, contacts, rate_limit_public_per_minute=2)
    consent = Consent()
    clients = app.extensions["crm.gateway.clients"]
    app.extensions["crm.gateway.clients"] = dataclasses.replace(clients, consent_as_gateway=consent)
    client = app.test_client()
    tokens = UnsubscribeTokens(UNSUBSCRIBE_SECRET)
    one_click = {"List-Unsubscribe": "One-Click"}
    people = [f"c-{n}" for n in range(5)]
    for person in people:
        token = tokens.sign(UnsubscribeRequest(person, "newsletter", "k-1"))
        answer = client.post(f"/unsubscribe/{token}", data=one_click)
        assert answer.status_code == 200, answer.get_data(as_text=True)
    assert consent.withdrawals == people
    forged = [client.post("/unsubscribe/forged.token", data=one_click) for _ in range(3)]
    assert [answer.status_code for answer in forged] == [404, 404, 429]


def test_public_pages_are_counted_per_client_ip() -> None:
    operations = {op.endpoint: op for op in _operations()}
    budgets = ratelimit.Budgets(caller=10, writes=5, public=7)
    health = budgets.of(operations["meta.healthz"], "GET")
    page = budgets.of(operations["public.unsubscribe_page"], "GET")  # no upstream call
    unsubscribe = budgets.of(operations["public.unsubscribe"], "POST")
    assert health == [] and page == [] and [b.name for b in unsubscribe] == ["public"]
    assert unsubscribe[0].quota == 7
    assert idempotency.applies(operations["contacts.create_component"])
    assert not idempotency.applies(operations["public.unsubscribe"])


def _operations() -> list[Any]:
    from services.gateway.app import AREAS

    return [op for area in AREAS for op in area.routes.operations]


def test_without_redis_keyed_posts_are_refused_and_reads_go_on_unlimited(
    keys: TestKeys, prefix: str, contacts: Contacts
) -> None:
    from meshkit.redis_url import connect_redis

    down = connect_redis("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    client = make_app(keys, prefix, down, contacts).test_client()
    assert_problem(post(client, admin(keys), "no-redis"), 503)
    assert contacts.creations == 0  # never created without a key that could be checked
    read = client.get("/v1/components", headers=admin(keys))
    assert read.status_code == 200 and "RateLimit" not in read.headers
    down.close()
