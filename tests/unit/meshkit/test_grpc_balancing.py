"""open_channel spreads calls over every address of its target (one per replica)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.protobuf import empty_pb2

from meshkit.grpc_client import open_channel
from tests.support.processes import free_port

METHOD = "/test.Replica/Who"


@pytest.fixture
def replicas() -> Iterator[tuple[list[str], Counter[str]]]:
    """Two plain servers, each counting the calls it answers."""
    served: Counter[str] = Counter()
    servers, targets = [], []
    for _ in range(2):
        target = f"127.0.0.1:{free_port()}"

        def answer(request: empty_pb2.Empty, context: object, me: str = target) -> empty_pb2.Empty:
            served[me] += 1
            return empty_pb2.Empty()

        handler = grpc.method_handlers_generic_handler(
            "test.Replica",
            {
                "Who": grpc.unary_unary_rpc_method_handler(
                    answer,
                    request_deserializer=empty_pb2.Empty.FromString,
                    response_serializer=empty_pb2.Empty.SerializeToString,
                )
            },
        )
        server = grpc.server(futures.ThreadPoolExecutor(2))
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(target)
        server.start()
        servers.append(server)
        targets.append(target)
    yield targets, served
    for server in servers:
        server.stop(0)


def test_calls_reach_every_replica_behind_one_target(
    replicas: tuple[list[str], Counter[str]],
) -> None:
    targets, served = replicas
    # What a headless Service's DNS name resolves to: every replica's address.
    both = "ipv4:" + ",".join(targets)
    with open_channel(both, lambda: "token", 5.0) as channel:
        call = channel.unary_unary(
            METHOD,
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        grpc.channel_ready_future(channel).result(timeout=5)
        for _ in range(20):
            call(empty_pb2.Empty(), wait_for_ready=True)
    assert sum(served.values()) == 20
    assert set(served) == set(targets), served
