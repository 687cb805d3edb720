"""Start real service processes (`crm serve <name>`) and wait until they are healthy."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from services.dev.health import wait_grpc as wait_grpc_healthy
from services.dev.health import wait_http as wait_http_healthy

__all__ = [
    "free_port",
    "free_port_run",
    "service_process",
    "terminate_all",
    "wait_grpc_healthy",
    "wait_http_healthy",
]


# Under pytest-xdist each worker picks ports from a band of its own, below the kernel's
# ephemeral range (32768 and up), so a port one worker found free is not handed by the
# kernel to the other worker's `bind(0)` or outgoing connection before it is used.
BAND_START, BAND_SIZE, BANDS = 10000, 5000, 2
_handed_out: set[int] = set()


def _worker_band() -> range | None:
    """The ports this xdist worker alone picks from; None outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = worker[2:]
    if worker.startswith("gw") and index.isdigit() and int(index) < BANDS:
        start = BAND_START + BAND_SIZE * int(index)
        return range(start, start + BAND_SIZE)
    return None


def free_port_run(length: int) -> int:
    """A base port with `length` free ports after it, none handed out before here."""
    band = _worker_band() or range(20000, 60000)
    for _ in range(200):
        base = random.randrange(band.start, band.stop - length)
        ports = range(base, base + length)
        if _handed_out.intersection(ports):
            continue
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        _handed_out.update(ports)
        return base
    raise RuntimeError("no free port range")


def free_port() -> int:
    """A port free now (in this worker's band under xdist)."""
    if _worker_band() is not None:
        return free_port_run(1)
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


def terminate_all(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Sends SIGTERM to every process still running, without waiting for any.

    Called before the `service_process` contexts unwind, it lets a whole mesh shut
    down side by side; each context still waits for its own process (and kills it late).
    """
    for process in processes:
        if process.poll() is None:
            process.terminate()
