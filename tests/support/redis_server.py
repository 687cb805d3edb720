"""A Redis server of a test's own, on a fixed port, that the test may flush or restart empty."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.support.processes import free_port


def available() -> bool:
    return shutil.which("redis-server") is not None


class RedisServer:
    """redis-server with no persistence: a restart comes back empty, as after a crash."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self, down_seconds: float = 0.5) -> None:
        """Killed (SIGKILL) and started again, empty, on the same port."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def flush(self) -> None:
        redis.Redis(host="127.0.0.1", port=self.port).flushall()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
