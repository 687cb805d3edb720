"""A real three-node Redis Cluster started by a test: redis-server --cluster-enabled yes."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster

NODES = 3
BUS_OFFSET = 10000  # a cluster node also listens on its port + 10000 (the cluster bus)


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free and below 65536 too."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def available() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


@contextmanager
def redis_cluster(directory: Path) -> Iterator[RedisCluster]:
    """Three primaries on free ports, slots spread by `redis-cli --cluster create`."""
    ports = [cluster_port() for _ in range(NODES)]
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            home = directory / str(port)
            home.mkdir(parents=True)
            servers.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", "nodes.conf",
                        "--save", "",
                        "--appendonly", "no",
                        "--dir", str(home),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in ports:
            _wait_for_ping(port)
        subprocess.run(
            ["redis-cli", "--cluster", "create"]
            + [f"127.0.0.1:{port}" for port in ports]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        for port in ports:
            _wait_for_state_ok(port)
        client = RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", port) for port in ports],
            decode_responses=True,
        )
        try:
            yield client
        finally:
            client.close()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=10)


def _wait_for_ping(port: int) -> None:
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(200):
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} did not start")


def _wait_for_state_ok(port: int) -> None:
    client: Any = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    for _ in range(200):
        if "cluster_state:ok" in str(client.execute_command("CLUSTER", "INFO")):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the cluster node on port {port} never reached cluster_state:ok")
