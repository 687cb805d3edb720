"""Benchmark: one mailing through the whole mesh versus plain smtplib, to the same SMTP sink.

Starts the mesh as real processes (PostgreSQL and Redis on this machine, as in
the end-to-end tests, two campaigns replicas) with an SMTP sink in a process of
its own (bench/smtp_sink.py), creates N contacts with consent, and measures:

- the mailing: one campaign to all N through the mesh, then the same mails
  (text and HTML, the same headers and links) built and sent by plain smtplib
  to the same sink, over as many SMTP connections as the mesh opened, with as
  many threads as the mesh has dispatch workers; both rates and their ratio;
- with --large, the peak memory (VmHWM) of every service after the mailing of N
  and after a campaign of --large-recipients (100,000), so growth shows.

Asserts nothing: it prints figures.

    python -m bench.mailing [--recipients 10000] [--batch-size 200] [--large]
"""

from __future__ import annotations

import argparse
import csv
import io
import smtplib
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from unittest import mock

import tests.support.mesh as mesh_module
from bench.smtp_sink import SinkProcess
from tests.support.mesh import Mesh

REPLICAS = 2  # campaigns replicas the mesh starts
DISPATCH_THREADS = 2  # CampaignsSettings.dispatch_threads default
COMPONENT = "sciences"
SUBJECT = "Bonjour {{ display_name }}"
BODY = "Bonjour {{ display_name }},\n\nvoici la lettre de la faculté.\n"
IMPORT_ROWS = 20_000  # rows per CSV import request


@dataclass
class Figures:
    """What one measurement prints, line by line."""

    title: str
    lines: list[str] = field(default_factory=list)

    def add(self, label: str, value: str) -> None:
        self.lines.append(f"  {label:<34} {value}")

    def print(self) -> None:
        print(self.title)
        for line in self.lines:
            print(line)


@dataclass
class Bench:
    """The running mesh, its sink, and the manager who sends."""

    mesh: Mesh
    sink: SinkProcess
    token: str
    imported: int = 0  # contacts of the component so far

    def memory(self) -> dict[str, float]:
        """Peak resident memory (VmHWM, MiB) of every service process so far."""
        return {name: _peak_memory_mib(p.pid) for name, p in self.mesh.processes.items()}


@contextmanager
def bench_mesh(workdir: Path, batch_size: int) -> Iterator[Bench]:
    """The mesh of the end-to-end tests, mailing to a sink in its own process.

    tests.support.mesh runs its SMTP catcher in the calling process; here its
    Controller is replaced by the sink process on the same port, so the catcher's
    work does not share this process's CPU with the smtplib run.
    """
    sink = SinkProcess()

    def controller(handler: Any, hostname: str, port: int) -> SinkProcess:
        sink.port = port
        return sink

    with mock.patch.object(mesh_module, "Controller", controller):
        mesh = Mesh(workdir, pressure_max=1000, keep_mail=False, batch_size=batch_size)
        with mesh:
            admin = mesh.keys.admin()
            mesh.api.call("POST", "/v1/components", admin, {"id": COMPONENT, "name": "S"})
            yield Bench(mesh, sink, mesh.keys.manager(COMPONENT))


def populate(bench: Bench, count: int) -> list[str]:
    """`count` new companies of the component, imported as CSV, their ids.

    A company at its work address is a business contact: the newsletter's basis
    is legitimate interest (consent's seeded rule), so no grant per contact is
    needed and the setup takes seconds, not minutes; every mail still asks
    contacts and consent exactly as any other.
    """
    api, token, tag = bench.mesh.api, bench.token, uuid.uuid4().hex[:6]
    ids: list[str] = []
    for start in range(0, count, IMPORT_ROWS):
        buffer = io.StringIO()
        rows = [["organisation", "email"]] + [
            [f"Entreprise {i}", f"r{i}.{tag}@bench.example.org"]
            for i in range(start, min(count, start + IMPORT_ROWS))
        ]
        csv.writer(buffer).writerows(rows)
        reply = api.call(
            "POST",
            f"/v1/contacts/imports?kind=company&import_id=bench-{tag}-{start}",
            token,
            raw=buffer.getvalue().encode(),
            content_type="text/csv",
        )
        assert reply.status == 200, reply.text
        ids += [row["contact_id"] for row in reply.json["rows"]]
    bench.imported += len(ids)
    return ids


def draft(bench: Bench, name: str, audience: dict[str, Any]) -> str:
    body = {
        "name": name,
        "purpose": "newsletter",
        "subject_template": SUBJECT,
        "body_template": BODY,
        "audience": audience,
    }
    reply = bench.mesh.api.call("POST", "/v1/campaigns", bench.token, body)
    assert reply.status == 201, reply.text
    return str(reply.json["id"])


def preview_rate(bench: Bench, audience: dict[str, Any], count: int) -> Figures:
    """The first page of a preview (it counts every outcome over the whole audience)."""
    campaign_id = draft(bench, f"preview {count}", audience)
    started = time.perf_counter()
    reply = bench.mesh.api.call(
        "GET", f"/v1/campaigns/{campaign_id}/preview?page_size=100", bench.token
    )
    seconds = time.perf_counter() - started
    assert reply.status == 200, reply.text
    figures = Figures(f"preview (dry run) of {count} recipients through the mesh")
    figures.add(
        "first page, all outcomes counted", f"{seconds:.2f} s = {count / seconds:.0f} recipients/s"
    )
    figures.add("counts", str(reply.json["counts"]))
    return figures


def mesh_mailing(bench: Bench, ids: list[str]) -> float:
    """Seconds from the send request to the campaign done, every recipient sent."""
    body = {
        "name": f"bench {len(ids)}",
        "purpose": "newsletter",
        "subject_template": SUBJECT,
        "body_template": BODY,
        "audience": {"contact_ids": ids},
    }
    api, token = bench.mesh.api, bench.token
    campaign = {"id": draft(bench, body["name"], body["audience"])}
    started = time.perf_counter()
    reply = api.call("POST", f"/v1/campaigns/{campaign['id']}/send", token, {})
    assert reply.status == 202, reply.text
    done = bench.mesh.wait_done(token, campaign["id"], timeout=7200)
    elapsed = time.perf_counter() - started
    assert done["outcome_counts"].get("sent") == len(ids), done["outcome_counts"]
    return elapsed


def plain_message(i: int) -> EmailMessage:
    """What a plain script sends: the mesh's mail, text and HTML, its headers and links."""
    link = f"https://crm.example.org/unsubscribe/{'t' * 64}{i}"
    preferences = f"https://crm.example.org/preferences/{'p' * 56}{i}"
    text = (
        f"Bonjour R{i},\n\nvoici la lettre de la faculté.\n\n-- \n"
        f"Se désinscrire en un clic : {link}\nUnsubscribe in one click: {link}\n"
        f"Vos préférences (ce que vous recevez, ou ne plus rien recevoir) : {preferences}\n"
        f"Your preferences (what you receive, or nothing more): {preferences}\n"
    )
    html = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Bonjour R{i}</title>"
        f"</head>\n<body>\n<p>Bonjour R{i},</p>\n<p>voici la lettre de la faculté.</p>\n<hr>\n"
        f'<p><a href="{link}">Se désinscrire en un clic</a> · <a href="{preferences}">Vos '
        f'préférences</a><br>\n<a href="{link}">Unsubscribe in one click</a> · '
        f'<a href="{preferences}">Your preferences</a></p>\n</body></html>\n'
    )
    message = EmailMessage()
    message["From"] = "Communication <no-reply@crm.localhost>"
    message["To"] = f"r{i}@bench.example.org"
    message["Subject"] = f"Bonjour R{i}"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@crm.localhost>"
    message["List-Unsubscribe"] = f"<{link}>, <mailto:unsubscribe@crm.localhost?subject=u-{i}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def plain_mailing(port: int, count: int, connections: int, threads: int) -> float:
    """Seconds plain smtplib takes to build and send `count` mails over `connections`."""

    def send(share: range) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for i in share:
                smtp.send_message(plain_message(i))

    shares = [range(c, count, connections) for c in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, shares))
    return time.perf_counter() - started


def mailing_comparison(bench: Bench, ids: list[str]) -> Figures:
    """The same mailing through the mesh and through plain smtplib; rates and ratio."""
    count = len(ids)
    received, connections = bench.sink.received, bench.sink.connections
    mesh_seconds = mesh_mailing(bench, ids)
    sent_by_mesh = bench.sink.received - received
    mesh_connections = bench.sink.connections - connections
    threads = REPLICAS * DISPATCH_THREADS
    before = bench.sink.received
    plain_seconds = plain_mailing(bench.mesh.smtp_port, count, mesh_connections, threads)
    sent_plain = bench.sink.received - before
    mesh_rate, plain_rate = count / mesh_seconds, count / plain_seconds
    figures = Figures(f"mailing of {count} recipients (SMTP sink in its own process)")
    figures.add("mesh", f"{sent_by_mesh} mails in {mesh_seconds:.2f} s = {mesh_rate:.0f} mails/s")
    figures.add(
        "plain smtplib", f"{sent_plain} mails in {plain_seconds:.2f} s = {plain_rate:.0f} mails/s"
    )
    figures.add("ratio mesh/smtplib", f"{mesh_rate / plain_rate:.2f}")
    figures.add("SMTP connections (each side)", f"{mesh_connections}, threads {threads}")
    return figures


def memory_run(bench: Bench, recipients: int) -> Figures:
    """Peak memory of every service after the mailings so far, then after one of `recipients`."""
    before = bench.memory()
    ids = populate(bench, recipients)
    seconds = mesh_mailing(bench, ids)
    after = bench.memory()
    figures = Figures(f"peak memory (VmHWM), before and after a campaign of {recipients}")
    figures.add("campaign", f"{recipients} mails in {seconds:.0f} s")
    for name in after:
        figures.add(name, f"{before[name]:.0f} MiB -> {after[name]:.0f} MiB")
    return figures


def preview_memory(bench: Bench, recipients: int) -> Figures:
    """Peak memory of every service around a preview of the whole component (`recipients`)."""
    if bench.imported < recipients:
        populate(bench, recipients - bench.imported)
    before = bench.memory()
    figures = preview_rate(bench, {"all_of_component": True}, recipients)
    after = bench.memory()
    figures.title = f"{figures.title}; peak memory (VmHWM) before and after"
    for name in after:
        figures.add(name, f"{before[name]:.0f} MiB -> {after[name]:.0f} MiB")
    return figures


def _peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--large", action="store_true", help="add the memory runs")
    parser.add_argument("--large-recipients", type=int, default=100_000)
    parser.add_argument("--large-preview", type=int, default=1_000_000)
    args = parser.parse_args()
    results: list[Figures] = []
    with tempfile.TemporaryDirectory() as workdir, bench_mesh(Path(workdir), args.batch_size) as b:
        started = time.perf_counter()
        ids = populate(b, args.recipients)
        setup = time.perf_counter() - started
        print(f"setup: {args.recipients} business contacts imported in {setup:.0f} s", flush=True)
        results.append(mailing_comparison(b, ids))
        # --- Further measurements on the same mesh: one call each, appended here. ---
        results.append(preview_rate(b, {"contact_ids": ids}, len(ids)))
        if args.large:
            results.append(memory_run(b, args.large_recipients))
            results.append(preview_memory(b, args.large_preview))
    for figures in results:
        figures.print()


if __name__ == "__main__":
    main()
