"""`crm pressure ...`: read and change the grouping's marketing-pressure policy.

Like `crm org`, every command talks to the gateway over HTTP with a bearer
token (`--token`, or CRM_TOKEN) and prints the gateway's JSON answer; an error
prints the problem the gateway answered and exits 1. Reading needs any token;
changes need an admin token. A change is written from the version just read
(or the one named): when someone changed the policy in between, the gateway
answers 409 and nothing is written; run the command again.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from services.admin.command import Subparsers, area, command, page_options, paged
from services.admin.http import CliError, Gateway

PATH = "/v1/pressure-policy"
SCOPES = ("grouping", "component", "purpose", "channel")
# What a PUT takes; the rest of a `show` answer (version, author, time) is not sent back.
POLICY_FIELDS = ("rules", "min_gap_seconds", "quiet_hours", "quiet_dates", "default_time_zone")
ANSWER_FIELDS = ("version", "changed_by", "changed_at", "note", "expected_version")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"([0-9]+)([smhdw]?)")


def duration(text: str) -> int:
    """`604800`, `7d`, `12h`, `90m`, `2w` -> seconds (argparse type)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: seconds, or a number followed by s, m, h, d or w"
        )
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def show(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("GET", PATH, query={"at": args.at})


def history(gateway: Gateway, args: argparse.Namespace) -> Any:
    return paged(gateway, args, f"{PATH}/versions", "versions")


def set_policy(gateway: Gateway, args: argparse.Namespace) -> Any:
    """The whole policy from a file (a `show` answer, edited, will do)."""
    try:
        document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    except ValueError as error:
        raise CliError(f"{args.file} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise CliError(f"{args.file} must hold a JSON object (the policy)")
    unknown = sorted(set(document) - {*POLICY_FIELDS, *ANSWER_FIELDS})
    if unknown:
        raise CliError(f"{args.file}: unknown fields {', '.join(unknown)}")
    policy = {k: v for k, v in document.items() if k in POLICY_FIELDS}
    expected = args.expected_version
    if expected is None:
        expected = document.get("expected_version", document.get("version"))
    if expected is None:
        expected = gateway.call("GET", PATH)["version"]
    note = args.note if args.note is not None else document.get("note") or ""
    return _put(gateway, policy, expected, note)


def add_rule(gateway: Gateway, args: argparse.Namespace) -> Any:
    current = gateway.call("GET", PATH)
    if any(rule["id"] == args.id for rule in current["rules"]):
        raise CliError(f"a rule {args.id!r} exists already (version {current['version']})")
    if args.scope == "grouping" and args.value:
        raise CliError("a grouping rule takes no --value")
    if args.scope != "grouping" and not args.value:
        raise CliError(f"a {args.scope} rule needs --value")
    rule = {
        "id": args.id,
        "scope": args.scope,
        "scope_value": args.value or "",
        "max_messages": args.max,
        "window_seconds": args.window,
    }
    policy = _policy_of(current)
    policy["rules"] = [*policy["rules"], rule]
    return _put(gateway, policy, current["version"], args.note or f"add rule {args.id}")


def add_quiet_dates(gateway: Gateway, args: argparse.Namespace) -> Any:
    current = gateway.call("GET", PATH)
    if any(period["id"] == args.id for period in current["quiet_dates"]):
        raise CliError(f"quiet dates {args.id!r} exist already (version {current['version']})")
    period = {
        "id": args.id,
        "component": args.component or "",
        "start": args.start,
        "end": args.end,
        "label": args.label or "",
    }
    policy = _policy_of(current)
    policy["quiet_dates"] = [*policy["quiet_dates"], period]
    return _put(gateway, policy, current["version"], args.note or f"add quiet dates {args.id}")


def _policy_of(version: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in version.items() if k in POLICY_FIELDS and v is not None}


def _put(gateway: Gateway, policy: dict[str, Any], expected: Any, note: str) -> Any:
    body = {**policy, "note": note, "expected_version": expected}
    return gateway.call("PUT", PATH, body)


def add_parser(commands: Subparsers) -> None:
    """Adds `pressure` and its verbs to the `crm` parser."""
    verbs = area(
        commands,
        "pressure",
        "the grouping's marketing-pressure policy (via the gateway)",
        __doc__ or "",
    )

    p = command(
        verbs,
        "show",
        show,
        "the policy in force (with --at, the one in force then)",
        ["crm pressure show", "crm pressure show --at 2025-06-01T08:00:00Z > policy.json"],
        reads=True,
    )
    p.add_argument("--at", help="an RFC 3339 instant with its offset, e.g. 2025-06-01T08:00:00Z")

    p = command(
        verbs,
        "history",
        history,
        "the versions written, newest first",
        ["crm pressure history", "crm pressure history --page-size 10 --format table"],
        reads=True,
    )
    page_options(p, "versions")
    p.add_argument(
        "--all",
        action="store_true",
        help="every page (the default without --page-token; kept for scripts written before)",
    )

    p = command(
        verbs,
        "set",
        set_policy,
        "replace the whole policy with a JSON file (admin)",
        [
            "crm pressure set --file policy.json --note 'one a day at most'",
            "crm pressure set --file policy.json  # policy.json: `crm pressure show`, edited",
        ],
    )
    p.add_argument(
        "--file",
        required=True,
        help="the policy as JSON: rules, min_gap_seconds, quiet_hours, quiet_dates, "
        "default_time_zone (a `crm pressure show` answer, edited, will do)",
    )
    p.add_argument(
        "--expected-version",
        type=int,
        help="the version this file was written from (default: the file's `version`, "
        "else the version in force now)",
    )
    p.add_argument("--note", help="why (kept in the history)")

    p = command(
        verbs,
        "add-rule",
        add_rule,
        "add one budget rule to the policy in force (admin)",
        [
            "crm pressure add-rule sciences-monthly --scope component --value sciences "
            "--max 2 --window 30d"
        ],
    )
    p.add_argument("id", help="[a-z0-9][a-z0-9_-]{0,62}, e.g. sciences-monthly")
    p.add_argument("--scope", required=True, choices=SCOPES, help="which messages it counts")
    p.add_argument("--value", help="the component id, purpose key or channel (none for grouping)")
    p.add_argument("--max", type=int, required=True, help="messages per window (1 to 1000)")
    p.add_argument(
        "--window",
        type=duration,
        required=True,
        help="rolling window: seconds, or e.g. 7d, 12h, 90m, 2w (60s to 366d)",
    )
    p.add_argument("--note", help="why (kept in the history)")

    p = command(
        verbs,
        "add-quiet-dates",
        add_quiet_dates,
        "add a period without messages (admin)",
        [
            "crm pressure add-quiet-dates exams-june --component sciences "
            "--start 2025-06-02 --end 2025-06-20 --label Examens"
        ],
    )
    p.add_argument("id", help="[a-z0-9][a-z0-9_-]{0,62}, e.g. exams-june-2025")
    p.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last day (inclusive), YYYY-MM-DD")
    p.add_argument("--component", help="the component it applies to (default: every one)")
    p.add_argument("--label", help="e.g. 'Examens de juin'")
    p.add_argument("--note", help="why (kept in the history)")
