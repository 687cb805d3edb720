"""The pressure script on real Redis (one server, and a three-node Redis Cluster started here).

Atomic, idempotent, every rule at once, rolling, and rebuilt from the database after
data loss; the script agrees with the reference model of pressure_policy.evaluate.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from services.campaigns.pressure import PressureCounters, PressureUnavailable, Sender, Verdict
from services.campaigns.pressure_policy import (
    Answer,
    BudgetRule,
    Counted,
    Logged,
    Message,
    PressurePolicy,
    Scope,
    default_policy,
    evaluate,
)
from tests.integration.campaigns.conftest import delete_keys
from tests.support import redis_cluster
from tests.support.processes import free_port
from tests.support.stores import redis_prefix

SCIENCES_NEWS = Message("sciences", "news", "email")
LETTRES_NEWS = Message("lettres", "news", "email")


def no_history(contact_ids: Sequence[str], since: datetime) -> list[Counted]:
    return []


def counters(
    client: Any, prefix: str, policy: PressurePolicy, history: Any = no_history
) -> PressureCounters:
    return PressureCounters(client, prefix, lambda: policy, history)


def campaign(name: str, message: Message = SCIENCES_NEWS) -> Sender:
    return Sender(f"d:{name}", message)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not redis_cluster.available():
        pytest.skip("needs redis-server and redis-cli")
    with redis_cluster.redis_cluster(tmp_path_factory.mktemp("cluster")) as client:
        yield client


@pytest.fixture(params=["server", "cluster"])
def backend(request: pytest.FixtureRequest, redis_client: Any) -> Iterator[Any]:
    """A single Redis server, or a real three-node Redis Cluster."""
    client = redis_client if request.param == "server" else request.getfixturevalue("cluster")
    yield client


@pytest.fixture
def keys(backend: Any) -> Iterator[str]:
    value = redis_prefix()
    yield value
    delete_keys_anywhere(backend, value)


def delete_keys_anywhere(client: Any, prefix: str) -> int:
    """Deletes every key under `prefix` on every node (what losing Redis data looks like)."""
    if not hasattr(client, "get_primaries"):
        return delete_keys(client, prefix)
    deleted = 0
    for node in client.get_primaries():
        connection = node.redis_connection
        for key in list(connection.scan_iter(match=f"{prefix}*", count=1000)):
            deleted += int(connection.delete(key))  # one key at a time: one slot each
    return deleted


def test_64_threads_for_one_contact_get_exactly_the_maximum(backend: Any, keys: str) -> None:
    pressure = counters(backend, keys, default_policy(5, 3600))
    barrier = threading.Barrier(64)
    verdicts: list[Verdict] = []
    lock = threading.Lock()

    def one_campaign(index: int) -> None:
        barrier.wait()
        answer = pressure.reserve(campaign(f"c{index}"), ["contact-1"])["contact-1"]
        with lock:
            verdicts.append(answer.verdict)

    threads = [threading.Thread(target=one_campaign, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts.count(Verdict.ALLOWED) == 5
    assert verdicts.count(Verdict.OVER) == 59
    assert backend.zcard(pressure.log_key("contact-1")) == 5


def test_three_overlapping_rules_are_checked_and_reserved_at_once(backend: Any, keys: str) -> None:
    policy = PressurePolicy(
        1,
        (
            BudgetRule("grouping", Scope.GROUPING, "", 3, 3600),
            BudgetRule("sciences", Scope.COMPONENT, "sciences", 1, 3600),
            BudgetRule("news", Scope.PURPOSE, "news", 2, 3600),
        ),
    )
    pressure = counters(backend, keys, policy)
    contacts = [f"p{i}" for i in range(30)]  # spread over the cluster's three nodes
    first = pressure.reserve(campaign("s1"), contacts)
    assert {a.verdict for a in first.values()} == {Verdict.ALLOWED}
    # The sciences rule (1) is full: another sciences campaign is over, named by its rule.
    again = pressure.reserve(campaign("s2", Message("sciences", "events", "email")), contacts)
    assert {a.rule for a in again.values()} == {"pressure:sciences:1/3600s"}
    # lettres/news: grouping 2 of 3, news 2 of 2 after it.
    assert {
        a.verdict for a in pressure.reserve(campaign("l1", LETTRES_NEWS), contacts).values()
    } == {Verdict.ALLOWED}
    over = pressure.reserve(campaign("l2", LETTRES_NEWS), contacts)
    assert {a.rule for a in over.values()} == {"pressure:news:2/3600s"}
    # events from lettres: only the grouping rule has room (3rd of 3).
    events = campaign("l3", Message("lettres", "events", "email"))
    assert {a.verdict for a in pressure.reserve(events, contacts).values()} == {Verdict.ALLOWED}
    assert {len(pressure.slots([c])) for c in contacts} == {3}


def test_peek_answers_like_reserve_and_writes_nothing(backend: Any, keys: str) -> None:
    pressure = counters(backend, keys, default_policy(1, 3600))
    contacts = [f"q{i}" for i in range(12)]
    pressure.reserve(campaign("c1"), contacts[:6])
    peeked = pressure.reserve(campaign("c2"), contacts, peek=True)
    assert [peeked[c].verdict for c in contacts] == [Verdict.OVER] * 6 + [Verdict.ALLOWED] * 6
    assert len(pressure.slots(contacts)) == 6  # nothing reserved by the peek
    reserved = pressure.reserve(campaign("c2"), contacts)
    assert [reserved[c].verdict for c in contacts] == [peeked[c].verdict for c in contacts]


def test_reserving_again_for_the_same_message_is_idempotent(backend: Any, keys: str) -> None:
    pressure = counters(backend, keys, default_policy(2, 3600))
    assert pressure.reserve(campaign("c1"), ["x"])["x"].verdict is Verdict.ALLOWED
    for _ in range(5):
        assert pressure.reserve(campaign("c1"), ["x"])["x"].verdict is Verdict.ALREADY_RESERVED
    assert pressure.reserve(campaign("c2"), ["x"])["x"].verdict is Verdict.ALLOWED
    assert pressure.reserve(campaign("c3"), ["x"])["x"].verdict is Verdict.OVER
    pressure.release(campaign("c2"), ["x"])
    assert pressure.reserve(campaign("c3"), ["x"])["x"].verdict is Verdict.ALLOWED


def test_holdback_leaves_the_last_slot_to_a_higher_priority(backend: Any, keys: str) -> None:
    pressure = counters(backend, keys, default_policy(2, 3600))
    pressure.reserve(campaign("c1"), ["x", "y"])
    low = pressure.reserve(campaign("low"), ["x", "y"], holdback={"x": 1})
    assert low["x"].verdict is Verdict.OVER  # its last slot waits for the higher priority
    assert low["y"].verdict is Verdict.ALLOWED


def test_every_key_of_one_call_is_in_one_cluster_slot(backend: Any, keys: str) -> None:
    pressure = counters(backend, keys, default_policy(2, 3600))
    for contact_id in ["a", "0f8e-4c", "x" * 64]:
        slot = key_slot(pressure.log_key(contact_id).encode())
        assert key_slot(pressure.marker_key(contact_id).encode()) == slot
        assert f"{{{contact_id}}}" in pressure.log_key(contact_id)


# (campaign, milliseconds to wait before the call); c1 and c2 are sciences', c3 and c4 lettres'
window_script = st.lists(
    st.tuples(st.sampled_from(["c1", "c2", "c3", "c4"]), st.sampled_from([0, 0, 5, 15, 45])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(min_value=1, max_value=3), st.sampled_from([0, 0, 0.02]), window_script)
def test_the_script_agrees_with_the_reference_model(
    backend: Any, maximum: int, gap: float, script: list[tuple[str, int]]
) -> None:
    # Windows of 40 and 60 ms. The script reads Redis' clock and tells which time it used;
    # the model is replayed with exactly those times, so nothing depends on how long we slept.
    policy = PressurePolicy(
        1,
        (
            BudgetRule("all", Scope.GROUPING, "", maximum + 1, 1),
            BudgetRule("sci", Scope.COMPONENT, "sciences", maximum, 1),
        ),
    )
    policy = _milliseconds(policy, {"all": 60, "sci": 40}, gap)
    prefix = redis_prefix()
    pressure = counters(backend, prefix, policy)
    log: list[Logged] = []
    try:
        for campaign_id, wait_ms in script:
            time.sleep(wait_ms / 1000)
            component = "sciences" if campaign_id in ("c1", "c2") else "lettres"
            message = Message(component, "news", "email")
            answer = pressure.reserve(Sender(f"d:{campaign_id}", message), ["k"])["k"]
            expected, retry, rule = evaluate(
                policy, log, f"d:{campaign_id}", message, answer.now_ms
            )
            assert answer.verdict.value == expected.value
            assert (answer.retry_at_ms, answer.rule) == (retry, rule)
            if expected is Answer.ALLOWED:
                log.append(Logged(f"d:{campaign_id}", message, answer.now_ms))
    finally:
        delete_keys_anywhere(backend, prefix)


def _milliseconds(policy: PressurePolicy, windows: dict[str, int], gap: float) -> PressurePolicy:
    """The policy with windows and gap in milliseconds, to play it out in a test's time."""
    rules = tuple(
        _MsRule(r.id, r.scope, r.scope_value, r.max_messages, windows[r.id]) for r in policy.rules
    )
    return _MsPolicy(policy.version, rules, min_gap_seconds=int(gap * 1000))


class _MsRule(BudgetRule):
    """window_seconds read as milliseconds."""

    @property
    def window_ms(self) -> int:
        return self.window_seconds


class _MsPolicy(PressurePolicy):
    """min_gap_seconds read as milliseconds."""

    @property
    def min_gap_ms(self) -> int:
        return self.min_gap_seconds


def test_counters_lost_by_redis_are_rebuilt_from_the_database(backend: Any, keys: str) -> None:
    sent: list[Counted] = []

    def database(contact_ids: Sequence[str], since: datetime) -> list[Counted]:
        return [s for s in sent if s.contact_id in contact_ids and s.at >= since]

    pressure = counters(backend, keys, default_policy(2, 3600), database)
    for name in ("c1", "c2"):
        assert pressure.reserve(campaign(name), ["x"])["x"].verdict is Verdict.ALLOWED
        sent.append(Counted("x", f"d:{name}", SCIENCES_NEWS, datetime.now(UTC)))
    sent.append(Counted("y", "d:c0", SCIENCES_NEWS, datetime.now(UTC) - timedelta(hours=2)))

    assert delete_keys_anywhere(backend, keys) > 0

    assert pressure.reserve(campaign("c3"), ["x"])["x"].verdict is Verdict.OVER
    assert pressure.reserve(campaign("c1"), ["x"])["x"].verdict is Verdict.ALREADY_RESERVED
    assert pressure.reserve(campaign("c3"), ["y"])["y"].verdict is Verdict.ALLOWED
    assert backend.exists(pressure.marker_key("x")) == 1


def test_a_longer_window_in_a_new_policy_rebuilds_first(redis_client: Any, prefix: str) -> None:
    asked: list[list[str]] = []

    def database(contact_ids: Sequence[str], since: datetime) -> list[Counted]:
        asked.append(list(contact_ids))
        return []

    policies = [default_policy(1, 3600)]
    pressure = PressureCounters(redis_client, prefix, lambda: policies[-1], database)
    pressure.reserve(campaign("c1"), ["a", "b"])
    pressure.reserve(campaign("c2"), ["c"])
    pressure.reserve(campaign("c3"), ["a", "b", "c"])
    assert asked == [["a", "b"], ["c"]]  # one database read per batch, only for unseen contacts
    policies.append(default_policy(1, 7200))  # the horizon grew: the logs may miss older mail
    pressure.reserve(campaign("c4"), ["a"])
    assert asked[-1] == ["a"]


def test_redis_down_means_no_answer_not_a_grant(prefix: str) -> None:
    dead = redis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    pressure = counters(dead, prefix, default_policy(1, 3600))
    with pytest.raises(PressureUnavailable):
        pressure.reserve(campaign("c1"), ["a"])


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs a redis-server binary")
def test_the_script_is_reloaded_after_the_cache_is_flushed(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        pressure = counters(client, "private:", default_policy(2, 3600))
        assert pressure.reserve(campaign("c1"), ["a"])["a"].verdict is Verdict.ALLOWED
        client.script_flush()  # what a restart or a failover does to the script cache
        assert pressure.reserve(campaign("c2"), ["a"])["a"].verdict is Verdict.ALLOWED  # one call
        client.script_flush()
        batch = pressure.reserve(campaign("c3"), ["a", "b"])  # a pipeline
        assert {k: v.verdict for k, v in batch.items()} == {
            "a": Verdict.OVER,
            "b": Verdict.ALLOWED,
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_recorded_interaction_counts_under_its_channel_rule(backend: Any, keys: str) -> None:
    policy = PressurePolicy(
        1,
        (
            BudgetRule("all", Scope.GROUPING, "", 2, 3600),
            BudgetRule("sms", Scope.CHANNEL, "sms", 1, 3600),
        ),
    )
    pressure = counters(backend, keys, policy)
    sms = Message("sciences", "news", "sms")
    assert pressure.reserve(campaign("c0"), ["x"])["x"].verdict is Verdict.ALLOWED  # marker set
    pressure.record("x", "i:42", Message("lettres", "", "sms"), datetime.now(UTC))
    answer = pressure.reserve(Sender("d:c1", sms), ["x"])["x"]
    assert (answer.verdict, answer.rule) == (Verdict.OVER, "pressure:sms:1/3600s")
    assert [s.key for s in pressure.slots(["x"])] == ["d:c0", "i:42"]


def test_a_cluster_url_connects_to_the_cluster(cluster: Any) -> None:
    from services.campaigns.bootstrap import connect_redis

    nodes = ",".join(f"{n.host}:{n.port}" for n in cluster.get_primaries())
    client = connect_redis(f"redis+cluster://{nodes}")
    try:
        assert len(client.get_primaries()) == 3
        pressure = counters(client, redis_prefix(), default_policy(1, 60))
        answers = pressure.reserve(campaign("c1"), [f"u{i}" for i in range(10)])
        assert {a.verdict for a in answers.values()} == {Verdict.ALLOWED}
        pressure.drop(list(answers))
    finally:
        client.close()
