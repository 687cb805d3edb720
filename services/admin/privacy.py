"""`crm privacy ...`: the privacy requests of the grouping's DPO (access, erasure, rectification).

Every command needs a `dpo` token without a component and talks to the
gateway (`--token`, or CRM_TOKEN); an error prints the problem the gateway
answered and exits 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from services.admin.command import (
    Subparsers,
    area,
    command,
    page_options,
    paged,
    replaced_on_success,
)
from services.admin.http import Gateway, UsageError, quote

KINDS = ("access", "erasure", "rectification")
STATUSES = ("open", "in_progress", "done", "failed")


def parse_value(spec: str) -> tuple[str, str | None]:
    """`FIELD=VALUE` -> (field, value); `FIELD=` removes the value (None)."""
    field, sep, value = spec.partition("=")
    if not sep or not field.strip():
        raise argparse.ArgumentTypeError(f"{spec!r}: expected FIELD=VALUE (FIELD= removes it)")
    return field.strip(), value or None


def requests_list(gateway: Gateway, args: argparse.Namespace) -> Any:
    return paged(
        gateway,
        args,
        "/v1/privacy-requests",
        "requests",
        contact_id=args.contact,
        status=args.status,
    )


def show(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("GET", f"/v1/privacy-requests/{quote(args.id)}")


def file_request(gateway: Gateway, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"kind": args.kind, "contact_id": args.contact}
    if args.kind == "rectification":
        if not args.owner or not args.set:
            raise UsageError("a rectification needs --owner and at least one --set FIELD=VALUE")
        body["rectification"] = {"owner_component": args.owner, "fields": dict(args.set)}
    elif args.owner or args.set:
        raise UsageError("--owner and --set go with --kind rectification only")
    return gateway.call("POST", "/v1/privacy-requests", body)


def export(gateway: Gateway, args: argparse.Namespace) -> Any:
    document = gateway.call("GET", f"/v1/privacy-requests/{quote(args.id)}/export")
    if args.output == "-":
        return document
    with replaced_on_success(Path(args.output)) as out:
        json.dump(document, out, ensure_ascii=False, indent=2)
    return None


def add_parser(commands: Subparsers) -> None:
    """Adds `privacy` and its verbs to the `crm` parser."""
    verbs = area(
        commands,
        "privacy",
        "privacy requests of the grouping's DPO (via the gateway)",
        __doc__ or "",
    )
    p = command(
        verbs,
        "list",
        requests_list,
        "the privacy requests, newest first",
        [
            "crm privacy list --status open --format table",
            "crm privacy list --contact 3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b",
        ],
        reads=True,
    )
    p.add_argument("--contact", help="only the requests about this contact")
    p.add_argument("--status", choices=STATUSES, help="only the requests in this status")
    page_options(p, "requests")

    p = command(
        verbs,
        "show",
        show,
        "one request: its steps, deadline and audit trail",
        ["crm privacy show 0b9d..."],
        reads=True,
    )
    p.add_argument("id", help="the request's id")

    p = command(
        verbs,
        "file",
        file_request,
        "open an access, erasure or rectification request",
        [
            "crm privacy file --kind erasure --contact 3f2b8c1e-...",
            "crm privacy file --kind rectification --contact 3f2b8c1e-... "
            "--owner sciences --set last_name=Dupont --set phone=",
        ],
        reads=True,
    )
    p.add_argument("--kind", required=True, choices=KINDS, help="access, erasure or rectification")
    p.add_argument("--contact", required=True, help="the contact's id")
    p.add_argument("--owner", help="rectification: the component whose values are corrected")
    p.add_argument(
        "--set",
        action="append",
        type=parse_value,
        metavar="FIELD=VALUE",
        help="rectification, repeatable: the corrected value (FIELD= removes it)",
    )

    p = command(
        verbs,
        "export",
        export,
        "the JSON document of a done access request",
        ["crm privacy export 0b9d... --output person.json"],
    )
    p.add_argument("id", help="the request's id")
    p.add_argument("--output", "-o", default="-", help="the JSON file (default: standard output)")
