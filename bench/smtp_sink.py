"""An SMTP sink in a process of its own: takes every mail, keeps none, counts them.

The benchmarks send to it from the mesh and from plain smtplib; in its own
process it takes no CPU time from the process that measures, and it answers
as fast as one asyncio loop parses lines, so the sink is not what is measured.

    with SinkProcess() as sink:       # sink.port, sink.received, sink.connections
        ...
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from tests.support.processes import free_port

_EHLO = b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n"


class _Sink(asyncio.Protocol):
    def __init__(self, received: Synchronized[int], connections: Synchronized[int]) -> None:
        self._received = received
        self._connections = connections
        self._buffer = b""
        self._in_data = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._connections.value += 1
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        replies = []
        while self._buffer:
            if self._in_data:
                if self._buffer.startswith(b".\r\n"):
                    end, skip = 0, 3
                else:
                    end, skip = self._buffer.find(b"\r\n.\r\n"), 5
                if end < 0:
                    break
                self._buffer = self._buffer[end + skip :]
                self._in_data = False
                self._received.value += 1
                replies.append(b"250 OK\r\n")
                continue
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                break
            verb = self._buffer[:4].upper()
            self._buffer = self._buffer[line_end + 2 :]
            if verb == b"EHLO":
                replies.append(_EHLO)
            elif verb == b"DATA":
                self._in_data = True
                replies.append(b"354 go on\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 bye\r\n")
                self._transport.write(b"".join(replies))
                self._transport.close()
                return
            else:
                replies.append(b"250 OK\r\n")
        if replies:
            self._transport.write(b"".join(replies))


def _serve(
    port: int,
    received: Synchronized[int],
    connections: Synchronized[int],
    ready: Any,
) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Sink(received, connections), "127.0.0.1", port, backlog=256
        )
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(run())


class SinkProcess:
    """The sink, started on enter (in a spawned process), stopped on exit."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        context = multiprocessing.get_context("spawn")
        self._received = context.Value("q", 0, lock=False)
        self._connections = context.Value("q", 0, lock=False)
        self._ready = context.Event()
        self._context = context
        self._process: Any = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def received(self) -> int:
        return int(self._received.value)

    @property
    def connections(self) -> int:
        return int(self._connections.value)

    def start(self) -> None:
        """Serves on `port` as it is now (a caller may set it before)."""
        self._process = self._context.Process(
            target=_serve,
            args=(self.port, self._received, self._connections, self._ready),
            name="smtp-sink",
            daemon=True,
        )
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(10)

    def __enter__(self) -> SinkProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
