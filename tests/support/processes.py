"""Start real service processes (`crm serve <name>`) and wait until they are healthy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.dev.health import wait_grpc as wait_grpc_healthy
from services.dev.health import wait_http as wait_http_healthy

__all__ = ["free_port", "service_process", "wait_grpc_healthy", "wait_http_healthy"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def service_process(
    name: str, env: dict[str, str], log_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs `crm serve <name>` with `env` added; stops it with SIGTERM afterwards.

    Its output goes to <log_dir>/<name>.log, which tests may read (no-leak checks).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
