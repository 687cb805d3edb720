"""Benchmark: one mailing of N recipients through the whole mesh versus plain smtplib.

Starts the mesh as real processes (PostgreSQL and Redis on this machine, as in
the end-to-end tests), creates N contacts with consent, sends one campaign to
all of them into a local SMTP sink, then sends the same messages with plain
smtplib to the same sink over the same number of SMTP connections the mesh
opened, with as many threads as the mesh has dispatch workers. Prints both
rates, their ratio and each service's peak memory (VmHWM). Asserts nothing.

    python -m bench.mailing [--recipients 10000]
"""

from __future__ import annotations

import argparse
import smtplib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

from tests.support.mesh import Mesh

REPLICAS = 2  # campaigns replicas the mesh starts
DISPATCH_THREADS = 2  # CampaignsSettings.dispatch_threads default
COMPONENT = "sciences"


def _populate(mesh: Mesh, token: str, count: int) -> list[str]:
    def create(i: int) -> str:
        values = {"email": f"r{i}@bench.example.org", "first_name": f"R{i}"}
        body = {"kind": "person", "fields": values}
        reply = mesh.api.call("POST", "/v1/contacts", token, body)
        assert reply.status == 201, reply.text
        contact_id: str = reply.json["contact"]["id"]
        grant = {
            "channel": "email",
            "purpose": "newsletter",
            "scope": "component",
            "source": "bench",
            "text_shown": "ok",
        }
        consent = mesh.api.call("POST", f"/v1/contacts/{contact_id}/consents", token, grant)
        assert consent.status == 201, consent.text
        return contact_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(create, range(count)))


def _mesh_run(mesh: Mesh, token: str, ids: list[str]) -> float:
    body = {
        "name": "bench",
        "purpose": "newsletter",
        "subject_template": "Bonjour {{ first_name }}",
        "body_template": "Bonjour {{ first_name }},\nvoici la lettre de la faculté.\n",
        "audience": {"contact_ids": ids},
    }
    campaign = mesh.api.call("POST", "/v1/campaigns", token, body).json
    started = time.perf_counter()
    reply = mesh.api.call("POST", f"/v1/campaigns/{campaign['id']}/send", token, {})
    assert reply.status == 202, reply.text
    done = mesh.wait_done(token, campaign["id"], timeout=3600)
    elapsed = time.perf_counter() - started
    assert done["outcome_counts"].get("sent") == len(ids), done["outcome_counts"]
    return elapsed


def _plain_run(port: int, count: int, connections: int, threads: int) -> float:
    def send(share: range) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for i in share:
                message = EmailMessage()
                message["From"] = "Communication <no-reply@crm.localhost>"
                message["To"] = f"r{i}@bench.example.org"
                message["Subject"] = f"Bonjour R{i}"
                message.set_content(f"Bonjour R{i},\nvoici la lettre de la faculté.\n")
                smtp.send_message(message)

    shares = [range(c, count, connections) for c in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, shares))
    return time.perf_counter() - started


def _peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        mesh = Mesh(Path(workdir), pressure_max=1000, keep_mail=False, batch_size=args.batch_size)
        with mesh:
            admin = mesh.keys.admin()
            mesh.api.call("POST", "/v1/components", admin, {"id": COMPONENT, "name": "S"})
            token = mesh.keys.manager(COMPONENT)
            t0 = time.perf_counter()
            ids = _populate(mesh, token, args.recipients)
            setup = time.perf_counter() - t0
            mesh_seconds = _mesh_run(mesh, token, ids)
            connections = mesh.inbox.connections
            sent_by_mesh = mesh.inbox.received
            threads = REPLICAS * DISPATCH_THREADS
            plain_seconds = _plain_run(mesh.smtp_port, args.recipients, connections, threads)
            memory = {name: _peak_memory_mib(p.pid) for name, p in mesh.processes.items()}
    mesh_rate = args.recipients / mesh_seconds
    plain_rate = args.recipients / plain_seconds
    print(f"recipients:                 {args.recipients}")
    print(f"setup (contacts + consent): {setup:.1f} s")
    print(f"mesh:   {sent_by_mesh} mails in {mesh_seconds:.2f} s = {mesh_rate:.0f} mails/s")
    print(f"smtplib: {args.recipients} mails in {plain_seconds:.2f} s = {plain_rate:.0f} mails/s")
    print(f"ratio mesh/smtplib:         {mesh_rate / plain_rate:.2f}")
    print(f"SMTP connections (both):    {connections}, threads {threads}")
    for name, mib in memory.items():
        print(f"peak memory {name:<11} {mib:.0f} MiB")


if __name__ == "__main__":
    main()
