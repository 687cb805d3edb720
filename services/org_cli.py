"""`crm org ...`: administer the organisation tree, the catalogue and the field policies.

Every command talks to the gateway over HTTP with a bearer token (`--token`, or
the CRM_TOKEN environment variable) and prints the gateway's JSON answer; it
never touches a database. An error prints the problem the gateway answered
(status, title, detail, the fields at fault) and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from meshkit.roles import Role

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
PERSON_ROLES = [r.value for r in Role if r is not Role.SERVICE]
AUDIENCES = ("owner", "members", "components", "grouping")
GRANT_HELP = (
    "a grant: AUDIENCE[,CONDITION...] where AUDIENCE is owner, members, grouping or "
    "components=ID+ID..., and a CONDITION is service=ID, min_level=LEVEL or subject=SUB; "
    "e.g. 'members,min_level=manager' or 'components=droit+medecine,service=alumni'"
)


class OrgError(Exception):
    """Something to tell the user, then exit 1."""


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    token = args.token or os.environ.get("CRM_TOKEN", "")
    if not token:
        raise OrgError(
            "no token: pass --token or set CRM_TOKEN (e.g. from `crm token --role admin`)"
        )
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(args.gateway.rstrip("/") + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise OrgError(_problem(error.code, error.read())) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OrgError(f"cannot reach the gateway at {args.gateway}: {reason}") from None
    return json.loads(raw) if raw.strip() else None


def _problem(status: int, raw: bytes) -> str:
    try:
        problem = json.loads(raw)
    except ValueError:
        return f"the gateway answered {status}"
    lines = [f"{status} {problem.get('title', '')}: {problem.get('detail', '')}".rstrip(": ")]
    for error in problem.get("errors") or []:
        lines.append(f"  {error.get('field')}: {error.get('description')}")
    return "\n".join(lines)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def parse_grant(spec: str) -> dict[str, Any]:
    """A grant from its command-line form (see GRANT_HELP); ValueError when malformed."""
    audience, *conditions = [part.strip() for part in spec.split(",")]
    grant: dict[str, Any] = {}
    name, _, value = audience.partition("=")
    if name not in AUDIENCES:
        raise ValueError(f"unknown audience {name!r}: one of {', '.join(AUDIENCES)}")
    grant["audience"] = name
    if name == "components":
        grant["components"] = [c for c in value.split("+") if c]
    elif value:
        raise ValueError(f"only the components audience takes a value ({name}={value})")
    for condition in conditions:
        key, _, value = condition.partition("=")
        if key not in ("service", "min_level", "subject") or not value:
            raise ValueError(f"unknown condition {condition!r}: service=, min_level= or subject=")
        grant[key] = value
    return grant


def _grants(specs: list[str] | None, option: str) -> list[dict[str, Any]]:
    try:
        return [parse_grant(spec) for spec in specs or []]
    except ValueError as error:
        raise OrgError(f"{option}: {error}") from None


def _print(value: Any) -> None:
    if value is not None:
        print(json.dumps(value, indent=2, ensure_ascii=False))


# --- Commands --------------------------------------------------------------------------------


def components_add(args: argparse.Namespace) -> Any:
    return _call(args, "POST", "/v1/components", {"id": args.id, "name": args.name})


def components_list(args: argparse.Namespace) -> Any:
    return _call(args, "GET", "/v1/components")


def services_add(args: argparse.Namespace) -> Any:
    path = f"/v1/components/{_quote(args.component)}/services"
    return _call(args, "POST", path, {"id": args.id, "name": args.name})


def levels_set(args: argparse.Namespace) -> Any:
    return _call(args, "PUT", "/v1/organisation/levels", {"levels": args.levels})


def show(args: argparse.Namespace) -> Any:
    return _call(args, "GET", "/v1/organisation")


def people_put(args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"roles": args.role or []}
    for name in ("component", "service", "level"):
        value = getattr(args, name)
        if value:
            body[f"{name}_id" if name != "level" else "level"] = value
    return _call(args, "PUT", f"/v1/people/{_quote(args.subject)}", body)


def people_remove(args: argparse.Namespace) -> Any:
    return _call(args, "DELETE", f"/v1/people/{_quote(args.subject)}")


def attributes_define(args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"type": args.type, "choices": args.choice or []}
    if args.label_fr:
        body["label_fr"] = args.label_fr
    if args.label_en:
        body["label_en"] = args.label_en
    path = f"/v1/components/{_quote(args.component)}/attributes/{_quote(args.key)}"
    return _call(args, "PUT", path, body)


def catalogue(args: argparse.Namespace) -> Any:
    return _call(args, "GET", "/v1/catalogue")


def policies_set(args: argparse.Namespace) -> Any:
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                body = json.load(handle)
        except (OSError, ValueError) as error:
            raise OrgError(f"--file: cannot read a JSON policy: {error}") from None
        if args.read or args.write:
            raise OrgError("give the grants either in --file or with --read/--write, not both")
        if not isinstance(body, dict):
            raise OrgError('--file: expected {"read": [...], "write": [...]}')
    else:
        body = {"read": _grants(args.read, "--read"), "write": _grants(args.write, "--write")}
    return _call(args, "PUT", f"/v1/field-policies/{_quote(args.field)}", body)


def policies_list(args: argparse.Namespace) -> Any:
    return _call(args, "GET", "/v1/field-policies")


def policies_history(args: argparse.Namespace) -> Any:
    query = {"field": args.field or "", "page_size": args.page_size, "page_token": args.page_token}
    shown = {k: v for k, v in query.items() if v}
    suffix = f"?{urllib.parse.urlencode(shown)}" if shown else ""
    return _call(args, "GET", f"/v1/field-policies/changes{suffix}")


# --- Parser ----------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """Adds `org` and its subcommands to the `crm` parser."""
    org = commands.add_parser(
        "org",
        help="administer the organisation, the catalogue and the field policies (via the gateway)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--gateway", default=DEFAULT_GATEWAY, help=f"gateway base URL (default {DEFAULT_GATEWAY})"
    )
    common.add_argument("--token", help="bearer token (default: the CRM_TOKEN variable)")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    areas = org.add_subparsers(dest="area", required=True)

    def command(parent: Any, name: str, run: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(
            name, help=help, description=help, parents=[common]
        )
        p.set_defaults(run=_runner(run))
        return p

    area = areas.add_parser("components", help="the components of the grouping")
    verbs = area.add_subparsers(dest="verb", required=True)
    p = command(verbs, "add", components_add, "register a component (admin)")
    p.add_argument("id", help="slug, e.g. sciences")
    p.add_argument("name", help="display name, e.g. 'Faculté des sciences'")
    command(verbs, "list", components_list, "list the components")

    area = areas.add_parser("services", help="the services inside components")
    verbs = area.add_subparsers(dest="verb", required=True)
    p = command(verbs, "add", services_add, "add a service inside a component (admin)")
    p.add_argument("component", help="the component, e.g. sciences")
    p.add_argument("id", help="slug, e.g. relations-entreprises")
    p.add_argument("name", help="display name")

    area = areas.add_parser("levels", help="the hierarchy levels")
    verbs = area.add_subparsers(dest="verb", required=True)
    p = command(verbs, "set", levels_set, "replace the levels, lowest first (admin)")
    p.add_argument("levels", nargs="*", help="e.g. agent manager director")

    command(areas, "show", show, "print the whole tree (people: admins only)")

    area = areas.add_parser("people", help="the people of the organisation and their roles")
    verbs = area.add_subparsers(dest="verb", required=True)
    p = command(verbs, "put", people_put, "put a person in the tree with their roles (admin)")
    p.add_argument("subject", help="the `sub` of their tokens, e.g. alice@sciences")
    p.add_argument("--component", help="their component (absent: grouping level)")
    p.add_argument("--service", help="their service inside the component")
    p.add_argument("--level", help="their hierarchy level")
    p.add_argument(
        "--role",
        action="append",
        choices=PERSON_ROLES,
        help="repeatable: " + ", ".join(PERSON_ROLES),
    )
    p = command(verbs, "remove", people_remove, "remove a person from the tree (admin)")
    p.add_argument("subject")

    area = areas.add_parser("attributes", help="the attributes components declare")
    verbs = area.add_subparsers(dest="verb", required=True)
    p = command(verbs, "define", attributes_define, "declare or change an attribute (admin)")
    p.add_argument("component")
    p.add_argument("key", help="[a-z][a-z0-9_]{0,63}, e.g. taxe_apprentissage")
    p.add_argument("--type", required=True, choices=["text", "number", "date", "boolean", "enum"])
    p.add_argument("--choice", action="append", help="repeatable: the choices of an enum")
    p.add_argument("--label-fr")
    p.add_argument("--label-en")

    command(areas, "catalogue", catalogue, "print the field catalogue")

    area = areas.add_parser("policies", help="the field policies")
    verbs = area.add_subparsers(dest="verb", required=True)
    p = command(verbs, "set", policies_set, "replace the policy of one field (admin)")
    p.add_argument("field", help="a core field or <component>.<key>")
    p.add_argument("--file", help='a JSON file {"read": [grant...], "write": [grant...]}')
    p.add_argument("--read", action="append", metavar="GRANT", help="repeatable: " + GRANT_HELP)
    p.add_argument("--write", action="append", metavar="GRANT", help="repeatable, as --read")
    command(verbs, "list", policies_list, "list the policies in force")
    p = command(
        verbs, "history", policies_history, "who changed which policy, newest first (admin)"
    )
    p.add_argument("--field", help="only this field")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")


def _runner(run: Any) -> Any:
    def go(args: argparse.Namespace) -> None:
        try:
            _print(run(args))
        except OrgError as error:
            print(f"crm org: {error}", file=sys.stderr)
            sys.exit(1)

    return go
