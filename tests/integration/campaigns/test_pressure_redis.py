"""The pressure script on a real Redis: atomic, idempotent, rolling, rebuilt after data loss."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from services.campaigns.ledger import RecentSend
from services.campaigns.policy import PressureRule, Verdict, global_rule, reserve
from services.campaigns.pressure import PressureCounters, PressureUnavailable
from tests.integration.campaigns.conftest import delete_keys
from tests.support.processes import free_port
from tests.support.stores import redis_prefix


def no_history(contact_ids: Sequence[str], since: datetime) -> list[RecentSend]:
    return []


def counters(
    client: Any, prefix: str, rule: PressureRule, history: Any = no_history
) -> PressureCounters:
    return PressureCounters(client, prefix, rule, history)


def test_64_threads_for_one_contact_get_exactly_the_maximum(redis_client: Any, prefix: str) -> None:
    pressure = counters(redis_client, prefix, global_rule(5, 3600))
    barrier = threading.Barrier(64)
    verdicts: list[Verdict] = []
    lock = threading.Lock()

    def one_campaign(index: int) -> None:
        barrier.wait()
        answer = pressure.reserve(f"campaign-{index}", ["contact-1"])["contact-1"]
        with lock:
            verdicts.append(answer.verdict)

    threads = [threading.Thread(target=one_campaign, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts.count(Verdict.ALLOWED) == 5
    assert verdicts.count(Verdict.CAPPED) == 59
    assert redis_client.zcard(pressure.slots_key("contact-1")) == 5


def test_a_batch_is_one_round_trip_and_counts_each_contact(redis_client: Any, prefix: str) -> None:
    pressure = counters(redis_client, prefix, global_rule(1, 3600))
    first = pressure.reserve("c1", ["a", "b", "c"])
    second = pressure.reserve("c2", ["a", "b", "d"])
    assert {k: v.verdict for k, v in first.items()} == dict.fromkeys("abc", Verdict.ALLOWED)
    assert {k: v.verdict for k, v in second.items()} == {
        "a": Verdict.CAPPED,
        "b": Verdict.CAPPED,
        "d": Verdict.ALLOWED,
    }
    capped = second["a"]
    assert capped.retry_at_ms == pytest.approx(first["a"].now_ms + 3_600_000, abs=5)


def test_reserving_again_for_the_same_delivery_is_idempotent(
    redis_client: Any, prefix: str
) -> None:
    pressure = counters(redis_client, prefix, global_rule(2, 3600))
    assert pressure.reserve("c1", ["x"])["x"].verdict is Verdict.ALLOWED
    for _ in range(5):
        assert pressure.reserve("c1", ["x"])["x"].verdict is Verdict.ALREADY_RESERVED
    assert pressure.reserve("c2", ["x"])["x"].verdict is Verdict.ALLOWED
    assert pressure.reserve("c3", ["x"])["x"].verdict is Verdict.CAPPED
    pressure.release("c2", ["x"])
    assert pressure.reserve("c3", ["x"])["x"].verdict is Verdict.ALLOWED


def test_every_key_of_one_call_is_in_one_cluster_slot(redis_client: Any, prefix: str) -> None:
    pressure = counters(redis_client, prefix, global_rule(2, 3600))
    for contact_id in ["a", "0f8e-4c", "x" * 64]:
        slot = key_slot(pressure.slots_key(contact_id).encode())
        assert key_slot(pressure.marker_key(contact_id).encode()) == slot
        assert f"{{{contact_id}}}" in pressure.slots_key(contact_id)


# (delivery, milliseconds to wait before the call)
window_script = st.lists(
    st.tuples(st.sampled_from(["c1", "c2", "c3", "c4"]), st.sampled_from([0, 0, 5, 15, 45])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(min_value=1, max_value=3), window_script)
def test_the_script_agrees_with_the_reference_model(
    redis_client: Any, maximum: int, script: list[tuple[str, int]]
) -> None:
    # A 40 ms window. The script reads Redis' clock and tells which time it used; the
    # model is replayed with exactly those times, so nothing depends on how long we slept.
    rule = PressureRule("global", maximum, 0.04)
    prefix = redis_prefix()
    pressure = counters(redis_client, prefix, rule)
    slots: dict[str, int] = {}
    try:
        for campaign_id, wait_ms in script:
            time.sleep(wait_ms / 1000)
            answer = pressure.reserve(campaign_id, ["k"])["k"]
            expected, slots = reserve(slots, f"{campaign_id}:k", answer.now_ms, rule)
            assert answer.verdict is expected.verdict
            assert answer.retry_at_ms == expected.retry_at_ms
    finally:
        delete_keys(redis_client, prefix)


def test_counters_lost_by_redis_are_rebuilt_from_the_ledger(redis_client: Any, prefix: str) -> None:
    sent: list[RecentSend] = []

    def ledger(contact_ids: Sequence[str], since: datetime) -> list[RecentSend]:
        return [s for s in sent if s.contact_id in contact_ids and s.at >= since]

    pressure = counters(redis_client, prefix, global_rule(2, 3600), ledger)
    for campaign_id in ("c1", "c2"):
        assert pressure.reserve(campaign_id, ["x"])["x"].verdict is Verdict.ALLOWED
        sent.append(RecentSend(campaign_id, "x", datetime.now(UTC)))
    old = RecentSend("c0", "y", datetime.now(UTC) - timedelta(hours=2))  # outside the window
    sent.append(old)

    assert delete_keys(redis_client, prefix) > 0

    assert pressure.reserve("c3", ["x"])["x"].verdict is Verdict.CAPPED
    assert pressure.reserve("c1", ["x"])["x"].verdict is Verdict.ALREADY_RESERVED
    assert pressure.reserve("c3", ["y"])["y"].verdict is Verdict.ALLOWED
    assert redis_client.exists(pressure.marker_key("x")) == 1


def test_a_contact_never_seen_gets_a_marker_and_no_slot(redis_client: Any, prefix: str) -> None:
    asked: list[list[str]] = []

    def ledger(contact_ids: Sequence[str], since: datetime) -> list[RecentSend]:
        asked.append(list(contact_ids))
        return []

    pressure = counters(redis_client, prefix, global_rule(1, 3600), ledger)
    pressure.reserve("c1", ["a", "b"])
    pressure.reserve("c2", ["c"])
    pressure.reserve("c3", ["a", "b", "c"])
    assert asked == [["a", "b"], ["c"]]  # one ledger read per batch, only for unseen contacts


def test_redis_down_means_no_answer_not_a_grant(prefix: str) -> None:
    dead = redis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    pressure = counters(dead, prefix, global_rule(1, 3600))
    with pytest.raises(PressureUnavailable):
        pressure.reserve("c1", ["a"])


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs a redis-server binary")
def test_the_script_is_reloaded_after_the_cache_is_flushed(tmp_path: Any) -> None:
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
        pressure = counters(client, "private:", global_rule(2, 3600))
        assert pressure.reserve("c1", ["a"])["a"].verdict is Verdict.ALLOWED
        client.script_flush()  # what a restart or a failover does to the script cache
        assert pressure.reserve("c2", ["a"])["a"].verdict is Verdict.ALLOWED  # one call
        client.script_flush()
        batch = pressure.reserve("c3", ["a", "b"])  # a pipeline
        assert {k: v.verdict for k, v in batch.items()} == {
            "a": Verdict.CAPPED,
            "b": Verdict.ALLOWED,
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
