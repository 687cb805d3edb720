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
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from services.org_cli import DEFAULT_GATEWAY, OrgError, _call, _print

PATH = "/v1/pressure-policy"
SCOPES = ("grouping", "component", "purpose", "channel")
# What a PUT takes; the rest of a `show` answer (version, author, time) is not sent back.
POLICY_FIELDS = ("rules", "min_gap_seconds", "quiet_hours", "quiet_dates", "default_time_zone")
ANSWER_FIELDS = ("version", "changed_by", "changed_at", "note", "expected_version")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"([0-9]+)([smhdw]?)")


class PressureError(OrgError):
    """Something to tell the user, then exit 1."""


def duration(text: str) -> int:
    """`604800`, `7d`, `12h`, `90m`, `2w` -> seconds (argparse type)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: seconds, or a number followed by s, m, h, d or w"
        )
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def show(args: argparse.Namespace) -> Any:
    suffix = f"?at={urllib.parse.quote(args.at, safe='')}" if args.at else ""
    return _call(args, "GET", PATH + suffix)


def history(args: argparse.Namespace) -> Any:
    query = {"page_size": str(args.page_size), "page_token": args.page_token}
    if not args.all:
        return _call(args, "GET", f"{PATH}/versions?{urllib.parse.urlencode(query)}")
    versions: list[Any] = []
    while True:
        page = _call(args, "GET", f"{PATH}/versions?{urllib.parse.urlencode(query)}")
        versions += page["versions"]
        query["page_token"] = page["next_page_token"]
        if not query["page_token"]:
            return {"versions": versions, "next_page_token": ""}


def set_policy(args: argparse.Namespace) -> Any:
    """The whole policy from a file (a `show` answer, edited, will do)."""
    try:
        document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except OSError as error:
        raise PressureError(f"cannot read {args.file}: {error.strerror}") from None
    except ValueError as error:
        raise PressureError(f"{args.file} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise PressureError(f"{args.file} must hold a JSON object (the policy)")
    unknown = sorted(set(document) - {*POLICY_FIELDS, *ANSWER_FIELDS})
    if unknown:
        raise PressureError(f"{args.file}: unknown fields {', '.join(unknown)}")
    policy = {k: v for k, v in document.items() if k in POLICY_FIELDS}
    expected = args.expected_version
    if expected is None:
        expected = document.get("expected_version", document.get("version"))
    if expected is None:
        expected = _call(args, "GET", PATH)["version"]
    note = args.note if args.note is not None else document.get("note") or ""
    return _put(args, policy, expected, note)


def add_rule(args: argparse.Namespace) -> Any:
    current = _call(args, "GET", PATH)
    if any(rule["id"] == args.id for rule in current["rules"]):
        raise PressureError(f"a rule {args.id!r} exists already (version {current['version']})")
    if args.scope == "grouping" and args.value:
        raise PressureError("a grouping rule takes no --value")
    if args.scope != "grouping" and not args.value:
        raise PressureError(f"a {args.scope} rule needs --value")
    rule = {
        "id": args.id,
        "scope": args.scope,
        "scope_value": args.value or "",
        "max_messages": args.max,
        "window_seconds": args.window,
    }
    policy = _policy_of(current)
    policy["rules"] = [*policy["rules"], rule]
    return _put(args, policy, current["version"], args.note or f"add rule {args.id}")


def add_quiet_dates(args: argparse.Namespace) -> Any:
    current = _call(args, "GET", PATH)
    if any(period["id"] == args.id for period in current["quiet_dates"]):
        raise PressureError(f"quiet dates {args.id!r} exist already (version {current['version']})")
    period = {
        "id": args.id,
        "component": args.component or "",
        "start": args.start,
        "end": args.end,
        "label": args.label or "",
    }
    policy = _policy_of(current)
    policy["quiet_dates"] = [*policy["quiet_dates"], period]
    return _put(args, policy, current["version"], args.note or f"add quiet dates {args.id}")


def _policy_of(version: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in version.items() if k in POLICY_FIELDS and v is not None}


def _put(args: argparse.Namespace, policy: dict[str, Any], expected: Any, note: str) -> Any:
    body = {**policy, "note": note, "expected_version": expected}
    return _call(args, "PUT", PATH, body)


def _runner(run: Any) -> Any:
    def go(args: argparse.Namespace) -> None:
        try:
            _print(run(args))
        except OrgError as error:
            print(f"crm pressure: {error}", file=sys.stderr)
            sys.exit(1)

    return go


def add_parser(commands: Any) -> None:
    """Adds `pressure` and its verbs to the `crm` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--gateway", default=DEFAULT_GATEWAY, help=f"gateway base URL (default {DEFAULT_GATEWAY})"
    )
    common.add_argument("--token", help="bearer token (default: the CRM_TOKEN variable)")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser = commands.add_parser(
        "pressure",
        help="the grouping's marketing-pressure policy (via the gateway)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True)

    def command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(
            name, help=help, description=help, parents=[common]
        )
        p.set_defaults(run=_runner(run))
        return p

    p = command("show", show, "the policy in force (with --at, the one in force then)")
    p.add_argument("--at", help="an RFC 3339 instant with its offset, e.g. 2025-06-01T08:00:00Z")

    p = command("history", history, "the versions written, newest first")
    p.add_argument("--page-size", type=int, default=0, help="versions per page (0: 50)")
    p.add_argument("--page-token", default="", help="next_page_token of the previous page")
    p.add_argument("--all", action="store_true", help="follow every page, print one list")

    p = command("set", set_policy, "replace the whole policy with a JSON file (admin)")
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

    p = command("add-rule", add_rule, "add one budget rule to the policy in force (admin)")
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

    p = command("add-quiet-dates", add_quiet_dates, "add a period without messages (admin)")
    p.add_argument("id", help="[a-z0-9][a-z0-9_-]{0,62}, e.g. exams-june-2025")
    p.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last day (inclusive), YYYY-MM-DD")
    p.add_argument("--component", help="the component it applies to (default: every one)")
    p.add_argument("--label", help="e.g. 'Examens de juin'")
    p.add_argument("--note", help="why (kept in the history)")
