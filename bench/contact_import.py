"""Benchmark: 100,000 contact rows imported into PostgreSQL, through contacts and the gateway.

Starts a real contacts process and a real gateway (PostgreSQL on this machine),
has component B import the contacts a third of the rows will match, then
imports 100,000 rows for component A straight through ImportContacts (batches
of the most rows it takes), and 100,000 rows for component C as one CSV upload to the gateway.
Prints rows per second, each process's peak memory (VmHWM), and the policy
decision rate of one process (50 policies, 20 attributes per contact).
Asserts nothing.

    python -m bench.contact_import [--rows 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import grpc

from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from services.contacts import policy
from services.contacts.imports import MAX_ROWS
from tests.support.processes import free_port, service_process, wait_grpc_healthy, wait_http_healthy
from tests.support.stores import fresh_postgres
from tests.support.tokens import TestKeys

A, B, C = "sciences", "droit", "medecine"


def _row(i: int, matching: bool) -> dict[str, str]:
    email = f"shared{i}@bench.example.org" if matching else f"own{i}@bench.example.org"
    return {"email": email, "first_name": f"F{i}", "last_name": f"L{i}", "phone": "+33612345678"}


def _grpc_import(stub: contacts_pb2_grpc.ContactsServiceStub, token: str, rows: int,
                 matching_every: int, import_id: str, size: int) -> float:  # fmt: skip
    metadata = [("authorization", f"Bearer {token}")]
    started = time.perf_counter()
    for first in range(0, rows, size):
        batch = [
            pb.ImportRow(
                line=i + 2,
                kind=pb.CONTACT_KIND_PERSON,
                fields=_row(i, matching_every > 0 and i % matching_every == 0),
            )
            for i in range(first, min(rows, first + size))
        ]
        request = pb.ImportContactsRequest(import_id=import_id, first_line=first + 2, rows=batch)
        stub.ImportContacts(request, metadata=metadata, timeout=120)
    return time.perf_counter() - started


def _csv_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email;first_name;last_name;phone\n")
        for i in range(rows):
            r = _row(i, i % 3 == 0)
            out.write(f"{r['email']};{r['first_name']};{r['last_name']};{r['phone']}\n")


def _gateway_import(base: str, token: str, path: Path) -> float:
    with path.open("rb") as body:
        request = urllib.request.Request(
            f"{base}/v1/contacts/imports?kind=person&import_id=bench",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "text/csv",
                "Content-Length": str(path.stat().st_size),
            },
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=3600) as reply:
            while reply.read(1 << 20):
                pass
    return time.perf_counter() - started


def _peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _policy_rate(seconds: float = 2.0) -> float:
    """Fields decided per second by view_of: 50 policies, 20 attribute values per contact."""
    levels = ("agent", "manager", "director")
    grants = (
        policy.Grant(policy.Audience.MEMBERS, min_level="manager"),
        policy.Grant(policy.Audience.COMPONENTS, frozenset({A, C}), service="alumni"),
        policy.Grant(policy.Audience.OWNER),
    )
    policies = {
        f"{B}.attr{i}": policy.FieldPolicy(f"{B}.attr{i}", grants, grants) for i in range(50)
    }
    rules = policy.Rules(policies, levels)
    values = tuple(policy.Value(f"{B}.attr{i}", B, f"v{i}") for i in range(20))
    contact = policy.Contact("c", policy.Kind.PERSON, frozenset({A, B}), values)
    viewer = policy.Viewer("someone", A, "alumni", "manager")
    decided, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(100):
            policy.view_of(contact, viewer, rules)
        decided += 100 * len(values)
    return decided / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=MAX_ROWS, help="rows per ImportContacts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, ExitStack() as stack:
        folder = Path(workdir)
        keys = TestKeys(folder / "keys")
        contacts_port, gateway_port, consent_port = free_port(), free_port(), free_port()
        url = stack.enter_context(fresh_postgres("bench_import"))
        consent_url = stack.enter_context(fresh_postgres("bench_import_consent"))
        home = {"CRM_HOME": str(folder / "home")}
        # Every import batch asks consent's suppression list (one call per batch).
        stack.enter_context(
            service_process(
                "consent",
                {
                    **home,
                    **keys.env("CONSENT_"),
                    "CONSENT_LISTEN": f"127.0.0.1:{consent_port}",
                    "CONSENT_DATABASE_URL": consent_url,
                    "CONSENT_CONTACTS_TARGET": f"127.0.0.1:{contacts_port}",
                },
                folder / "logs",
            )
        )
        contacts = stack.enter_context(
            service_process(
                "contacts",
                {
                    **home,
                    **keys.env("CONTACTS_"),
                    "CONTACTS_LISTEN": f"127.0.0.1:{contacts_port}",
                    "CONTACTS_DATABASE_URL": url,
                    "CONTACTS_CONSENT_TARGET": f"127.0.0.1:{consent_port}",
                },
                folder / "logs",
            )
        )
        gateway = stack.enter_context(
            service_process(
                "gateway",
                {
                    **home,
                    **keys.env("GATEWAY_"),
                    "GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}",
                    "GATEWAY_CONTACTS_TARGET": f"127.0.0.1:{contacts_port}",
                    "GATEWAY_RPC_TIMEOUT_SECONDS": "120",
                },
                folder / "logs",
            )
        )
        wait_grpc_healthy(f"127.0.0.1:{contacts_port}", timeout=60)
        wait_grpc_healthy(f"127.0.0.1:{consent_port}", timeout=60)
        base = f"http://127.0.0.1:{gateway_port}"
        wait_http_healthy(f"{base}/healthz", timeout=60)
        channel = grpc.insecure_channel(f"127.0.0.1:{contacts_port}")
        stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        admin = [("authorization", f"Bearer {keys.admin()}")]
        for component in (A, B, C):
            stub.CreateComponent(
                pb.CreateComponentRequest(id=component, name=component), metadata=admin
            )

        def editor(component: str) -> str:
            return keys.issuer.mint(f"e@{component}", component=component, roles=["contact_editor"])

        # B knows the contacts every third row of the others' files matches.
        metadata = [("authorization", f"Bearer {editor(B)}")]
        for first in range(0, args.rows, 3000):
            batch = [
                pb.ImportRow(line=n + 2, kind=pb.CONTACT_KIND_PERSON, fields=_row(i, True))
                for n, i in enumerate(range(first, min(args.rows, first + 3000), 3))
            ]
            stub.ImportContacts(
                pb.ImportContactsRequest(import_id="seed", first_line=batch[0].line, rows=batch),
                metadata=metadata,
                timeout=120,
            )
        grpc_seconds = _grpc_import(stub, editor(A), args.rows, 3, "bench", args.batch)
        csv_path = folder / "contacts.csv"
        _csv_file(csv_path, args.rows)
        gateway_seconds = _gateway_import(base, editor(C), csv_path)
        memory = {
            "contacts": _peak_memory_mib(contacts.pid),
            "gateway": _peak_memory_mib(gateway.pid),
        }
        channel.close()
        size_mb = csv_path.stat().st_size / 1e6
    rate = _policy_rate()
    print(f"rows:                         {args.rows} (a third match B's contacts)")
    grpc_rate = args.rows / grpc_seconds
    print(
        f"ImportContacts (gRPC, {args.batch}/call): {grpc_seconds:.1f} s = {grpc_rate:.0f} rows/s"
    )
    print(f"gateway upload ({size_mb:.1f} MB CSV): {gateway_seconds:.1f} s = "
          f"{args.rows / gateway_seconds:.0f} rows/s")  # fmt: skip
    for name, mib in memory.items():
        print(f"peak memory {name:<9}         {mib:.0f} MiB")
    print(f"policy decisions:             {rate:,.0f} fields/s (50 policies, 20 attributes)")


if __name__ == "__main__":
    main()
