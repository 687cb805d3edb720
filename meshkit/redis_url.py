"""One way to open Redis from a settings URL, shared by every service that keeps state there."""

from __future__ import annotations

from typing import Any

MEMORY = "memory://"


def connect_redis(url: str) -> Any:
    """redis-py for redis:// and rediss:// URLs; redis+cluster:// (or rediss+cluster://)
    for a Redis Cluster, given one or more of its nodes; memory:// is an in-process
    fakeredis (Lua through lupa), the embedded default."""
    if url == MEMORY:
        import fakeredis

        return fakeredis.FakeRedis(decode_responses=True)
    import redis

    scheme, _, rest = url.partition("://")
    if scheme in ("redis+cluster", "rediss+cluster"):
        from redis.cluster import ClusterNode, RedisCluster

        plain = scheme.removesuffix("+cluster")
        first, _, others = rest.partition("/")[0].partition(",")
        nodes = [n for n in [first, *others.split(",")] if n]
        return RedisCluster.from_url(
            f"{plain}://{first}",
            startup_nodes=[ClusterNode(*_host_port(n)) for n in nodes],
            decode_responses=True,
        )
    return redis.Redis.from_url(url, decode_responses=True)


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition("@")[2].rpartition(":")
    return host, int(port or 6379)
