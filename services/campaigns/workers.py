"""Dispatch worker threads inside the campaigns process (threads: never fork after gRPC)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from services.campaigns.dispatch import Dispatcher

log = logging.getLogger(__name__)


def worker_name(index: int) -> str:
    """A name unique across replicas: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


class DispatchWorkers:
    """`count` threads that dispatch batches until stopped; idle ones wait `poll_seconds`."""

    def __init__(self, dispatcher: Dispatcher, count: int, poll_seconds: float):
        self._dispatcher = dispatcher
        self._count = count
        self._poll = poll_seconds
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self._count):
            thread = threading.Thread(
                target=self._loop, args=(worker_name(index),), name=f"dispatch-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Lets each worker finish the mail in hand and give back the rest, then stops it."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self, worker: str) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._dispatcher.run_once(worker, self._stopping.is_set)
            except Exception:
                # Rows stay claimed until their lease ends, then another worker takes them.
                log.exception("dispatch worker %s failed on a batch", worker)
                claimed = 0
            if not claimed:
                self._stopping.wait(self._poll)
