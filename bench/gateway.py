"""Benchmark: contact reads through the gateway at a fixed rate, waitress against gunicorn.

Starts the mesh of the end-to-end tests (bench.mailing.bench_mesh: real processes,
PostgreSQL and Redis on this machine), imports --contacts business contacts, then
reads them (GET /v1/contacts/{id}, a manager's token) through each gateway server
in turn, with the same settings and the same services behind it:

- waitress: the mesh's own gateway, `crm serve gateway` as deployed today;
- gunicorn: `python -m bench.gunicorn_gateway`, --workers processes of gthread
  workers sharing GATEWAY_THREADS, started beside it for its run only.

Open loop: request i is due at start + i / rate and is sent then whatever the
latency of the others (by the first of --connections keep-alive connections that
is free), and its latency counts from when it was due, so a slow server's queue
shows in the figures instead of slowing the load (no coordinated omission). A
warm-up of --warmup seconds at the same rate is not counted. Prints, for each
server, the rate answered, p50, p99, max, errors by kind, the machine's load
average, and the CPU time per request of every process involved (the gateway,
each service, PostgreSQL's backends of the contacts database, this client):
on a 2-core machine their sum bounds the rate any server can reach. Asserts nothing.

    python -m bench.gateway [--rate 300] [--seconds 30] [--workers 2] [--servers waitress,gunicorn]
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.mailing import Bench, Figures, bench_mesh, populate
from tests.support.mesh import Mesh
from tests.support.processes import free_port, wait_http_healthy

SERVERS = ("waitress", "gunicorn")


@dataclass
class Run:
    """What one open-loop run saw: the latency of every answered request, and the errors."""

    latencies: list[float]
    errors: Counter[str]  # by kind: "HTTP 503", "TimeoutError"...
    late_sends: int  # requests sent when every connection was still busy
    seconds: float  # from the first request due to the last answer

    def figures(self, title: str, rate: int, seconds: float) -> Figures:
        ordered = sorted(self.latencies)
        figures = Figures(title)
        sent = len(ordered) + self.errors.total()
        figures.add("requests", f"{sent} in {seconds:.0f} s at {rate}/s (open loop)")
        figures.add(
            "answered at", f"{sent / self.seconds:.0f}/s (last answer at {self.seconds:.1f} s)"
        )
        if ordered:
            figures.add("p50", f"{_quantile(ordered, 0.50) * 1000:.1f} ms")
            figures.add("p99", f"{_quantile(ordered, 0.99) * 1000:.1f} ms")
            figures.add("max", f"{ordered[-1] * 1000:.1f} ms")
        kinds = ", ".join(f"{kind}: {count}" for kind, count in self.errors.most_common())
        figures.add("errors", f"{self.errors.total()} ({kinds})" if kinds else "0")
        figures.add("sent while all connections busy", str(self.late_sends))
        return figures


def _quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted values."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def open_loop(
    base: str, token: str, paths: list[str], rate: int, seconds: float, connections: int
) -> Run:
    """GETs `paths` in turn at `rate` per second for `seconds`; latency from each due time."""
    host, _, port = base.removeprefix("http://").partition(":")
    due: queue.SimpleQueue[tuple[str, float] | None] = queue.SimpleQueue()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"}

    def fetch(connection: http.client.HTTPConnection, path: str) -> str | None:
        """None when the answer is 200, else what went wrong."""
        connection.request("GET", path, headers=headers)
        reply = connection.getresponse()
        reply.read()
        return None if reply.status == 200 else f"HTTP {reply.status}"

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while (item := due.get()) is not None:
            path, deadline = item
            try:
                try:
                    error = fetch(connection, path)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # The server closed this idle keep-alive connection: like any client's
                    # connection pool, send again once on a new one (http.client reopens it).
                    connection.close()
                    error = fetch(connection, path)
            except (OSError, http.client.HTTPException) as failure:
                connection.close()
                error = type(failure).__name__
            elapsed = time.perf_counter() - deadline
            with lock:
                if error is None:
                    latencies.append(elapsed)
                else:
                    errors[error] += 1
        connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    total = int(rate * seconds)
    late = 0
    start = time.perf_counter() + 0.05
    for i in range(total):
        deadline = start + i / rate
        pause = deadline - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put((paths[i % len(paths)], deadline))
        backlog = i + 1 - len(latencies) - errors.total()  # in flight or queued
        late += backlog > connections
    for _ in threads:
        due.put(None)
    for thread in threads:
        thread.join()
    return Run(latencies, errors, late, time.perf_counter() - start)


def gateway_environment(mesh: Mesh, listen: str) -> dict[str, str]:
    """The settings of the mesh's own gateway (read from its process), listening on `listen`."""
    pid = mesh.processes["gateway"].pid
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    return {**env, "GATEWAY_LISTEN": listen}


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User and system CPU time each of the processes `pids` has used so far."""
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue  # a pooled database connection closed meanwhile
        # The fields after the command's closing parenthesis; utime and stime are 14 and 15.
        fields = stat.rsplit(")", 1)[1].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings (all of it for a process born in between).

    A process gone by the second reading is not counted: a slight undercount.
    """
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def with_children(pid: int) -> list[int]:
    """`pid` and its child processes (gunicorn's master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def database_query(url: str, sql: str) -> list[int]:
    """The first column of a query on `url`'s database, as integers."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [int(row[0]) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def database_backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving `url`'s database now (the services' pools)."""
    return database_query(
        url,
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )


def database_sessions(url: str) -> int:
    """Connections ever opened to `url`'s database: a pool that churns shows here."""
    sql = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    return database_query(url, sql)[0]


@contextmanager
def gunicorn_gateway(bench: Bench, workers: int, logs: Path) -> Iterator[tuple[str, list[int]]]:
    """A second gateway, under gunicorn, on the same services; its base URL and processes."""
    listen = f"127.0.0.1:{free_port()}"
    with open(logs / "gateway-gunicorn.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.gunicorn_gateway", "--workers", str(workers)],
            env=gateway_environment(bench.mesh, listen),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http_healthy(f"http://{listen}/healthz", timeout=60)
        yield f"http://{listen}", with_children(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def served_by(
    bench: Bench, server: str, workers: int, waitress: subprocess.Popen[bytes]
) -> Iterator[tuple[str, list[int]]]:
    """The base URL and processes of the gateway served by `server`, for one run."""
    if server == "waitress":
        yield bench.mesh.gateway_url, [waitress.pid]
    else:
        with gunicorn_gateway(bench, workers, bench.mesh.logs) as served:
            yield served


def measure(bench: Bench, server: str, paths: list[str], args: argparse.Namespace) -> Figures:
    """A warm-up (not counted), then the measured run of one server, with the CPU it cost."""
    processes = bench.mesh.processes
    with served_by(bench, server, args.workers, processes["gateway"]) as (base, pids):
        database = bench.mesh.database_urls["contacts"]
        parts: dict[str, Callable[[], list[int]]] = {
            "gateway": lambda: pids,
            "contacts": lambda: [processes["contacts"].pid],
            "consent": lambda: [processes["consent"].pid],
            "campaigns x2 (idle)": lambda: [processes[n].pid for n in ("campaigns", "campaigns2")],
            "this client": lambda: [os.getpid()],
            # Asked again at the end: a pool may open connections during the run.
            "PostgreSQL (contacts' database)": lambda: database_backends(database),
        }
        open_loop(base, bench.token, paths, args.rate, args.warmup, args.connections)
        load_before = os.getloadavg()[0]
        sessions_before = database_sessions(database)
        cpu_before = {name: cpu_seconds(of()) for name, of in parts.items()}
        run = open_loop(base, bench.token, paths, args.rate, args.seconds, args.connections)
        cpu = {name: cpu_used(cpu_before[name], cpu_seconds(of())) for name, of in parts.items()}
        sessions = database_sessions(database) - sessions_before - 2  # ours: one per reading
        load_after = os.getloadavg()[0]
    title = f"{server}: GET /v1/contacts/{{id}} through the gateway"
    if server == "gunicorn":
        title += f" ({args.workers} gthread workers)"
    figures = run.figures(title, args.rate, args.seconds)
    figures.add("load average (1 min) before, after", f"{load_before:.2f}, {load_after:.2f}")
    sent = max(1, len(run.latencies) + run.errors.total())
    for name, seconds in cpu.items():
        figures.add(f"CPU per request: {name}", f"{seconds * 1000 / sent:.2f} ms")
    # Connections opened and closed within the run (a pool overflowing) escape the figure
    # above; their count says how much it misses.
    figures.add("database connections opened (contacts), about", str(sessions))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=300, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--contacts", type=int, default=1000, help="contacts read in turn")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    args = parser.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    # The bench is one caller at --rate/s: the gateway's per-caller limit (1200 a minute by
    # default) would answer nearly every read with 429. The services inherit this setting.
    os.environ["GATEWAY_RATE_LIMIT_PER_MINUTE"] = "0"
    with tempfile.TemporaryDirectory() as workdir:
        with bench_mesh(Path(workdir), 200) as bench:
            paths = [f"/v1/contacts/{i}" for i in populate(bench, args.contacts)]
            print(f"setup: {len(paths)} contacts imported; {os.cpu_count()} cores", flush=True)
            for server in servers:
                measure(bench, server, paths, args).print()
        if args.logs:
            shutil.copytree(bench.mesh.logs, args.logs, dirs_exist_ok=True)


if __name__ == "__main__":
    main()
