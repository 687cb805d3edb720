"""A real SMTP server (raw asyncio, on a socket, in a thread) whose faults a test scripts.

aiosmtpd only hands a mail over once its final "." is in, so it cannot drop a
connection in the middle of DATA; this server reads the protocol itself.

Faults are scripted per recipient address, one step per SMTP transaction
naming it (`script`), or for every transaction (`always`):

- "451 ..." / "550 ..."  : the RCPT reply;
- "stall-rcpt"           : no RCPT reply for `stall_seconds`, then the connection closes
                           (a stall before the end of DATA);
- "drop-at-data"         : the connection closes when DATA is asked (nothing sent yet);
- "drop-mid-data"        : the connection closes after the first line of the content
                           (the relay never gets the final ".": it keeps nothing);
- "data:451 ..."         : the reply to the final "." (a refusal: no copy kept);
- "drop-after-end"       : the whole mail is kept, and the connection closes unanswered;
- "stall-after-end"      : the whole mail is kept, and the reply comes after `stall_seconds`.

What the relay saw is counted: connections, RCPT commands and copies kept per address.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from tests.support.processes import free_port


class FaultRelay:
    def __init__(self, stall_seconds: float = 2.0) -> None:
        self.stall_seconds = stall_seconds
        self.lock = threading.Lock()
        self.connections = 0
        self.rcpts: Counter[str] = Counter()  # RCPT commands per address
        self.delivered: Counter[str] = Counter()  # copies kept per address
        self.messages: list[tuple[str, bytes]] = []  # (address, content) of each copy kept
        # Called (in the relay's thread) after each copy kept, with its address.
        self.on_delivered: Callable[[str], None] | None = None
        self._scripts: dict[str, list[str]] = {}
        self._always: dict[str, str] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    def script(self, address: str, *steps: str) -> None:
        """The faults of the next transactions naming `address`, one each, in order."""
        with self.lock:
            self._scripts.setdefault(address, []).extend(steps)

    def always(self, address: str, step: str) -> None:
        with self.lock:
            self._always[address] = step

    def copies(self, address: str) -> list[bytes]:
        with self.lock:
            return [content for to, content in self.messages if to == address]

    # --- the server --------------------------------------------------------------------

    def start(self) -> int:
        self.port = free_port()
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._session, "127.0.0.1", self.port)
            )
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-relay", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.port

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return  # never started, or stopped already

        def shut() -> None:
            for writer in list(self._writers):
                writer.transport.abort()  # the clients' pooled connections too
            loop.stop()

        loop.call_soon_threadsafe(shut)
        self._thread.join(10)

    def _step(self, address: str) -> str:
        with self.lock:
            self.rcpts[address] += 1
            queued = self._scripts.get(address)
            if queued:
                return queued.pop(0)
            return self._always.get(address, "")

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self.lock:
            self.connections += 1
        self._writers.add(writer)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await reply("220 fault-relay ESMTP")
        rcpt, step = "", ""
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                await reply("250-fault-relay\r\n250 8BITMIME")
            elif verb in (b"HELO", b"NOOP"):
                await reply("250 OK")
            elif verb in (b"MAIL", b"RSET"):
                rcpt, step = "", ""
                await reply("250 OK")
            elif verb == b"RCPT":
                address = line.decode().partition("<")[2].partition(">")[0]
                step = self._step(address)
                if step[:1] in ("4", "5"):
                    await reply(step)
                    step = ""
                elif step == "stall-rcpt":
                    await asyncio.sleep(self.stall_seconds)
                    return
                else:
                    rcpt = address
                    await reply("250 OK")
            elif verb == b"DATA":
                if step == "drop-at-data":
                    return
                await reply("354 End data with <CR><LF>.<CR><LF>")
                if step == "drop-mid-data":
                    await reader.readline()
                    return
                content = await reader.readuntil(b"\r\n.\r\n")
                await self._after_data(rcpt, step, content, reply)
                rcpt, step = "", ""
            elif verb == b"QUIT":
                await reply("221 Bye")
                return
            else:
                await reply("500 unknown command")

    async def _after_data(
        self,
        rcpt: str,
        step: str,
        content: bytes,
        reply: Callable[[str], Awaitable[None]],
    ) -> None:
        if step.startswith("data:"):
            await reply(step.removeprefix("data:"))
            return
        with self.lock:
            self.delivered[rcpt] += 1
            # Without the final "." and the dot-stuffing: the mail as it was written.
            self.messages.append((rcpt, re.sub(rb"(?m)^\.\.", b".", content[: -len(b".\r\n")])))
        if self.on_delivered is not None:
            self.on_delivered(rcpt)
        if step == "drop-after-end":
            raise ConnectionResetError  # the session ends: no reply ever leaves
        if step == "stall-after-end":
            await asyncio.sleep(self.stall_seconds)
        await reply("250 OK queued")


@contextmanager
def fault_relay(stall_seconds: float = 2.0) -> Iterator[FaultRelay]:
    relay = FaultRelay(stall_seconds)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()
