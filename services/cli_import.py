"""`crm import contacts FILE`: uploads a CSV file to the gateway and saves the per-row report.

The file is streamed (never read whole into memory), with a progress counter
on stderr. Its import id defaults to a digest of the file and the component,
so running the same command again after an interruption resumes the import:
batches already applied are answered from their stored reports, not applied twice.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import http.client
import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024


def add_parser(commands: Any) -> None:
    """Registers `crm import contacts` on the root parser's subcommands."""
    root = commands.add_parser("import", help="import data through the gateway")
    kinds = root.add_subparsers(dest="what", required=True)
    p = kinds.add_parser("contacts", help="import contacts from a CSV file (UTF-8, ; or ,)")
    p.add_argument("file", type=Path)
    p.add_argument("--component", required=True, help="the component the token acts for")
    p.add_argument("--kind", choices=["person", "company"], default="person")
    p.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
    p.add_argument("--import-id", help="resume this import (default: derived from the file)")
    p.add_argument("--gateway", default=os.environ.get("CRM_GATEWAY", "http://127.0.0.1:8080"))
    p.add_argument("--token", default=None, help="bearer token (default: $CRM_TOKEN)")
    p.add_argument("--report", type=Path, help="where the per-row CSV report goes")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    token = args.token or os.environ.get("CRM_TOKEN", "")
    if not token:
        sys.exit("crm import: give --token or set CRM_TOKEN")
    if _token_component(token) != args.component:
        sys.exit(f"crm import: the token does not act for the component {args.component}")
    if not args.file.is_file():
        sys.exit(f"crm import: no such file: {args.file}")
    import_id = args.import_id or _default_id(args.file, args.component)
    report = args.report or args.file.with_name(f"{args.file.stem}.report.csv")
    status, headers, body = _upload(args, token, import_id, report)
    if status != 200:
        problem = json.loads(body or b"{}")
        print(f"crm import: {status} {problem.get('detail', '')}", file=sys.stderr)
        for error in problem.get("errors", []):
            print(f"  {error['field']}: {error['description']}", file=sys.stderr)
        if "applied_through_line" in problem:
            print(f"  resume with: --import-id {import_id}", file=sys.stderr)
        sys.exit(1)
    print(f"import {import_id}{' (dry run)' if args.dry_run else ''}")
    print(f"totals: {headers.get('x-import-totals', '')}")
    print(f"report: {report}")


def _upload(
    args: argparse.Namespace, token: str, import_id: str, report: Path
) -> tuple[int, dict[str, str], bytes]:
    url = urllib.parse.urlsplit(args.gateway)
    query = urllib.parse.urlencode(
        {"kind": args.kind, "import_id": import_id, "dry_run": str(args.dry_run).lower()}
    )
    size = args.file.stat().st_size
    connection_type = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(url.netloc, timeout=3600)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "text/csv",
        "Content-Length": str(size),
        "Accept": "text/csv",
    }
    path = f"{url.path.rstrip('/')}/v1/contacts/imports?{query}"
    connection.request("POST", path, body=_chunks(args.file, size), headers=headers)
    print(file=sys.stderr)
    print("waiting for the gateway's report...", file=sys.stderr)
    response = connection.getresponse()
    answer = {k.lower(): v for k, v in response.getheaders()}
    if response.status != 200:
        return response.status, answer, response.read()
    with report.open("wb") as out:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            out.write(chunk)
    connection.close()
    return 200, answer, b""


def _chunks(file: Path, size: int) -> Iterator[bytes]:
    sent = 0
    with file.open("rb") as source:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            sent += len(chunk)
            print(f"\rsent {sent / 1e6:.1f} / {size / 1e6:.1f} MB", end="", file=sys.stderr)
            yield chunk


def _default_id(file: Path, component: str) -> str:
    """The same file for the same component gets the same id: re-running resumes."""
    digest = hashlib.sha256(component.encode() + b"\0")
    with file.open("rb") as source:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            digest.update(chunk)
    return f"file-{digest.hexdigest()[:32]}"


def _token_component(token: str) -> str | None:
    """The component claim of a token (read, not verified: the gateway verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    component = claims.get("component")
    return component if isinstance(component, str) else None


def summarise(report: Path) -> dict[str, int]:
    """Rows per outcome of a saved report."""
    with report.open(newline="") as source:
        counts: dict[str, int] = {}
        for row in csv.DictReader(source):
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return counts


__all__ = ["add_parser", "run", "summarise"]
