"""`crm import contacts FILE` and `crm export contacts`: contacts in and out as CSV.

Import streams the file to the gateway (never read whole into memory) with a
progress bar of the bytes sent. Its import id defaults to a digest of the file
and the component, so running the same command again after an interruption
resumes the import: batches already applied are answered from their stored
reports, not applied twice.

Export pages through the gateway's contact list (`GET /v1/contacts`), so it
holds exactly what the token may read: one column per field the gateway
returned for at least one contact, nothing else. Pages are spooled to a
temporary file first (the columns are known only at the end), then written.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from meshkit.fields import DISPLAY_NAME
from services.admin.command import Subparsers, area, command, replaced_on_success
from services.admin.http import CliError, Gateway, GatewayError, UsageError
from services.admin.progress import Progress

CHUNK = 256 * 1024
IMPORT_TIMEOUT = 3600.0  # the gateway answers once the whole file is applied
META_COLUMNS = ("id", "kind", "member_components")


# --- import ------------------------------------------------------------------------------------


def import_contacts(gateway: Gateway, args: argparse.Namespace) -> Any:
    if _token_component(gateway.token) != args.component:
        raise CliError(f"the token does not act for the component {args.component}")
    if not args.file.is_file():
        raise CliError(f"no such file: {args.file}")
    import_id = args.import_id or _default_id(args.file, args.component)
    report = args.report or args.file.with_name(f"{args.file.stem}.report.csv")
    size = args.file.stat().st_size
    progress = Progress("import", total=size, unit="bytes")
    query = {"kind": args.kind, "import_id": import_id, "dry_run": args.dry_run}
    headers = {"Content-Type": "text/csv", "Content-Length": str(size), "Accept": "text/csv"}
    try:
        with replaced_on_success(report, "wb") as sink:
            answer = gateway.send(
                "POST",
                "/v1/contacts/imports",
                _chunks(args.file, progress),
                headers,
                query,
                timeout=max(gateway.timeout, IMPORT_TIMEOUT),
                sink=sink,
            )
    except GatewayError as error:
        progress.finish()
        if "applied_through_line" in error.problem:
            raise CliError(f"{error}\n  resume with: --import-id {import_id}") from None
        raise
    progress.finish()
    return {
        "import_id": import_id,
        "dry_run": args.dry_run,
        "totals": _totals(answer.headers.get("x-import-totals", "")),
        "report": str(report),
    }


def _chunks(file: Path, progress: Progress) -> Iterator[bytes]:
    with file.open("rb") as source:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            progress.advance(len(chunk))
            yield chunk


def _totals(header: str) -> dict[str, int]:
    """`created=1, rejected=2` -> {"created": 1, "rejected": 2}."""
    totals: dict[str, int] = {}
    for part in header.split(","):
        name, _, count = part.strip().partition("=")
        if name and count.isdigit():
            totals[name] = int(count)
    return totals


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
    component = claims.get("component") if isinstance(claims, dict) else None
    return component if isinstance(component, str) else None


def summarise(report: Path) -> dict[str, int]:
    """Rows per outcome of a saved report."""
    with report.open(newline="") as source:
        counts: dict[str, int] = {}
        for row in csv.DictReader(source):
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return counts


# --- export ------------------------------------------------------------------------------------


def parse_filter(spec: str) -> dict[str, str]:
    """`FIELD=VALUE` (equals) or `FIELD=MIN..MAX` (a range, either bound may be empty)."""
    field, sep, value = spec.partition("=")
    if not sep or not field.strip():
        raise argparse.ArgumentTypeError(f"{spec!r}: expected FIELD=VALUE or FIELD=MIN..MAX")
    field = field.strip()
    if ".." in value:
        low, _, high = value.partition("..")
        bounds = {k: v for k, v in (("min", low), ("max", high)) if v}
        if not bounds:
            raise argparse.ArgumentTypeError(f"{spec!r}: a range needs a bound")
        return {"field": field, **bounds}
    return {"field": field, "equals": value}


def export_contacts(gateway: Gateway, args: argparse.Namespace) -> Any:
    if args.for_import and not args.kind:
        raise UsageError("--for-import needs --kind (an import file holds one kind)")
    query: dict[str, Any] = {
        "kind": args.kind,
        "member_of": args.member_of,
        "updated_since": args.updated_since,
        "filters": json.dumps(args.filter) if args.filter else None,
        "page_size": args.page_size,
    }
    progress = Progress("export", unit="rows")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        columns = _spool(gateway.pages("/v1/contacts", "contacts", query), spool, progress)
        progress.finish()
        if args.for_import:
            columns = [c for c in columns if c != DISPLAY_NAME]
        header = columns if args.for_import else [*META_COLUMNS, *columns]
        spool.seek(0)
        if args.output == "-":
            _write_csv(spool, header, sys.stdout)
        else:
            with replaced_on_success(Path(args.output)) as out:
                _write_csv(spool, header, out)
    print(
        f"exported {progress.done} contacts, {len(header)} columns"
        + ("" if args.output == "-" else f" to {args.output}"),
        file=sys.stderr,
    )
    return None


def _spool(contacts: Iterator[dict[str, Any]], spool: TextIO, progress: Progress) -> list[str]:
    """Writes each contact as a JSON line; returns the fields seen, in order of appearance."""
    seen: dict[str, None] = {}
    for contact in contacts:
        values = {name: value.get("value", "") for name, value in contact["fields"].items()}
        seen.update(dict.fromkeys(values))
        row = {
            "id": contact["id"],
            "kind": contact["kind"],
            "member_components": " ".join(contact.get("member_components", [])),
            **values,
        }
        spool.write(json.dumps(row, ensure_ascii=False) + "\n")
        progress.advance(1)
    return list(seen)


def _write_csv(spool: IO[str], header: list[str], out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for line in spool:
        row = json.loads(line)
        writer.writerow([row.get(column, "") for column in header])


# --- parser ------------------------------------------------------------------------------------


def add_parser(commands: Subparsers) -> None:
    """Adds `import contacts` and `export contacts` to the `crm` parser."""
    kinds = area(commands, "import", "import data through the gateway", __doc__ or "", dest="what")
    p = command(
        kinds,
        "contacts",
        import_contacts,
        "import contacts from a CSV file (UTF-8, ; or ,) with a progress bar",
        [
            "crm import contacts students.csv --component sciences",
            "crm import contacts firms.csv --component sciences --kind company --dry-run",
        ],
        reads=True,
    )
    p.add_argument("file", type=Path, help="the CSV file; its header names catalogue fields")
    p.add_argument("--component", required=True, help="the component the token acts for")
    p.add_argument("--kind", choices=["person", "company"], default="person", help="default person")
    p.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
    p.add_argument("--import-id", help="resume this import (default: derived from the file)")
    p.add_argument(
        "--report", type=Path, help="where the per-row CSV report goes (default FILE.report.csv)"
    )

    kinds = area(commands, "export", "export data through the gateway", __doc__ or "", dest="what")
    p = command(
        kinds,
        "contacts",
        export_contacts,
        "write the contacts the token may read as CSV, with a progress bar",
        [
            "crm export contacts --output contacts.csv",
            "crm export contacts --kind person --filter sciences.promo=2025 --for-import "
            "--output promo.csv",
            "crm export contacts --member-of sciences --updated-since 2025-01-01T00:00:00Z",
        ],
    )
    p.add_argument("--output", "-o", default="-", help="the CSV file (default: standard output)")
    p.add_argument("--kind", choices=["person", "company"], help="only persons, or companies")
    p.add_argument("--member-of", help="whose contacts (a token without a component: admin)")
    p.add_argument("--updated-since", help="only contacts changed since, RFC 3339")
    p.add_argument(
        "--filter",
        action="append",
        type=parse_filter,
        metavar="FIELD=VALUE",
        help="repeatable, all must hold: FIELD=VALUE, or FIELD=MIN..MAX for numbers and dates",
    )
    p.add_argument("--page-size", type=int, default=0, help="contacts per request (0: default)")
    p.add_argument(
        "--for-import",
        action="store_true",
        help="only the field columns `crm import contacts` takes (no id, kind, display_name)",
    )
