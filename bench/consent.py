"""Benchmark: the batched consent check (CheckBatch) on 1,000,000 events and 100,000 contacts.

Migrates a fresh PostgreSQL database (on this machine, as the tests do), seeds
it with COPY (bench/consent_data.py: grants, withdrawals, denials, expiries,
revalidations, objections, double opt-in grants and their confirmations, a few
merged records, suppressed addresses), then starts the consent service as a
real process (`crm serve consent`) and asks it, under a service token, for
the newsletter by e-mail as one component would before a send: every contact
once per round, in CheckBatch calls of 10,000 items (address and professional
flag each), one then two concurrent clients. Prints checks per second, p50 and
p95 per call, the service's peak memory (VmHWM), the statements and the rate of
one check in process (no gRPC), the decisions seen and the plan PostgreSQL
chose for the events query. The aim (issue 7): at least 100,000 checks/s.
Asserts nothing.

    python -m bench.consent [--contacts 100000] [--events 1000000] [--batch 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import event

from bench.consent_data import Person, seed
from meshkit.db import Database, make_engine
from meshkit.identity import ROLE_SERVICE, Principal
from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent import service
from services.consent.bootstrap import migrate_schema
from services.consent.domain import Channel, CheckItem
from services.consent.validation import BatchRequest
from tests.support.processes import free_port, service_process, wait_grpc_healthy
from tests.support.stores import fresh_postgres
from tests.support.tokens import TestKeys

COMPONENT, PURPOSE = "sciences", "newsletter"
SECRET = "bench suppression secret"
METHOD = "/crm.consent.v1.ConsentService/CheckBatch"
BENCH = Principal("service:bench", roles=frozenset({ROLE_SERVICE}))

Call = Callable[..., bytes]


def _requests(people: Sequence[Person], size: int) -> list[bytes]:
    """The CheckBatch requests of one round, serialised once (the client's work is not timed)."""
    return [
        pb.CheckBatchRequest(
            component_id=COMPONENT,
            channel=pb.CHANNEL_EMAIL,
            purpose=PURPOSE,
            items=[
                pb.CheckItem(
                    contact_id=p.contact_id, address=p.address, professional_address=p.professional
                )  # fmt: skip
                for p in people[first : first + size]
            ],
        ).SerializeToString()
        for first in range(0, len(people), size)
    ]


def _caller(channel: grpc.Channel) -> Call:
    return channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)


Timed = tuple[float, list[float], list[bytes]]


def _round(calls: list[Call], requests: list[bytes], token: str) -> Timed:
    """One pass over every request, shared among the clients: wall time, each call's time."""
    metadata = [("authorization", f"Bearer {token}")]

    def client(index: int) -> list[tuple[float, bytes]]:
        timed = []
        for request in requests[index :: len(calls)]:
            started = time.perf_counter()
            reply = calls[index](request, metadata=metadata, timeout=300)
            timed.append((time.perf_counter() - started, reply))
        return timed

    started = time.perf_counter()
    with ThreadPoolExecutor(len(calls)) as pool:
        shares = list(pool.map(client, range(len(calls))))
    wall = time.perf_counter() - started
    timed = [t for share in shares for t in share]
    return wall, [seconds for seconds, _ in timed], [reply for _, reply in timed]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _decisions(replies: list[bytes]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for reply in replies:
        for result in pb.CheckBatchResponse.FromString(reply).results:
            counts[pb.Decision.Name(result.decision).removeprefix("DECISION_").lower()] += 1
    return counts


def _in_process(url: str, people: Sequence[Person], size: int) -> tuple[int, float, list[str]]:
    """One call of service.check_batch in this process: its statements, checks/s, the plan
    of its events query (EXPLAIN ANALYZE with the very statement and parameters it ran)."""
    items = [CheckItem(p.contact_id, p.address, p.professional) for p in people[:size]]
    request = BatchRequest(COMPONENT, Channel.EMAIL, PURPOSE, items=items)
    engine = make_engine(url)
    db = Database(engine)
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    try:
        service.check_batch(db, BENCH, request, SECRET.encode())  # warm the caches
        event.listen(engine, "before_cursor_execute", keep)
        started = time.perf_counter()
        service.check_batch(db, BENCH, request, SECRET.encode())
        seconds = time.perf_counter() - started
        event.remove(engine, "before_cursor_execute", keep)
        statement, parameters = next((s, p) for s, p in seen if "FROM consent_events" in s)
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
            ).scalars()
            lines = [str(line) for line in plan]
    finally:
        engine.dispose()
    return len(seen), len(items) / seconds, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="items per CheckBatch")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over every contact")
    args = parser.parse_args()
    rng = random.Random(7)
    results: dict[int, tuple[float, list[float]]] = {}
    with tempfile.TemporaryDirectory() as workdir, ExitStack() as stack:
        folder = Path(workdir)
        keys = TestKeys(folder / "keys")
        url = stack.enter_context(fresh_postgres("bench_consent"))
        engine = make_engine(url)
        migrate_schema(engine)
        engine.dispose()
        started = time.perf_counter()
        seeded = seed(url, args.contacts, args.events, SECRET.encode(), rng)
        seed_seconds = time.perf_counter() - started
        port = free_port()
        consent = stack.enter_context(
            service_process(
                "consent",
                {
                    "CRM_HOME": str(folder / "home"),
                    **keys.env("CONSENT_"),
                    "CONSENT_LISTEN": f"127.0.0.1:{port}",
                    "CONSENT_DATABASE_URL": url,
                    # A service token is never checked against the organisation tree:
                    # contacts and campaigns are not asked during a check.
                    "CONSENT_CONTACTS_TARGET": f"127.0.0.1:{free_port()}",
                    "CONSENT_CAMPAIGNS_TARGET": f"127.0.0.1:{free_port()}",
                    "CONSENT_SUPPRESSION_SECRET": SECRET,
                    "CONSENT_RPC_TIMEOUT_SECONDS": "300",
                },
                folder / "logs",
            )
        )
        wait_grpc_healthy(f"127.0.0.1:{port}", timeout=60)
        token = keys.service("campaigns")
        requests = _requests(seeded.people, args.batch)
        channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(2)]
        calls = [_caller(c) for c in channels]
        _round(calls[:1], requests, token)  # warm-up: connections, plans, caches
        replies: list[bytes] = []
        for clients in (1, 2):
            walls, latencies = [], []
            for _ in range(args.rounds):
                wall, seconds, replies = _round(calls[:clients], requests, token)
                walls.append(wall)
                latencies += seconds
            results[clients] = (sum(walls), latencies)
        memory = _peak_memory_mib(consent.pid)
        decisions = _decisions(replies)
        for channel in channels:
            channel.close()
        statements, local_rate, plan = _in_process(url, seeded.people, args.batch)
    checks = args.contacts * args.rounds
    print(f"contacts: {args.contacts}, events: {seeded.events}, merged records: "
          f"{seeded.merged}, suppressed addresses among them: {seeded.suppressed}")  # fmt: skip
    print(f"seeding (COPY + VACUUM ANALYZE): {seed_seconds:.1f} s")
    print(f"CheckBatch of {args.batch} items, {args.rounds} rounds over every contact:")
    for clients, (wall, latencies) in results.items():
        p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
        print(f"  {clients} client(s): {checks / wall:,.0f} checks/s "
              f"(p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms per call)")  # fmt: skip
    print(f"peak memory consent: {memory:.0f} MiB")
    print(f"in process (no gRPC): {local_rate:,.0f} checks/s, {statements} statements per batch")
    print("decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())))
    print("events query plan:")
    for line in plan:
        print(f"  {line[:150]}..." if len(line) > 150 else f"  {line}")  # long lists of ids


if __name__ == "__main__":
    main()
