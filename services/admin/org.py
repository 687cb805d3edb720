"""`crm org ...`: administer the organisation tree, the catalogue and the field policies.

Every command talks to the gateway over HTTP with a bearer token (`--token`, or
the CRM_TOKEN environment variable) and prints the gateway's JSON answer; it
never touches a database. An error prints the problem the gateway answered
(status, title, detail, the fields at fault) and exits 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from meshkit.roles import Role
from services.admin.command import Subparsers, area, command, page_options, paged, read_json_file
from services.admin.http import CliError, Gateway, quote

PERSON_ROLES = [r.value for r in Role if r is not Role.SERVICE]
AUDIENCES = ("owner", "members", "components", "grouping")
GRANT_HELP = (
    "a grant: AUDIENCE[,CONDITION...] where AUDIENCE is owner, members, grouping or "
    "components=ID+ID..., and a CONDITION is service=ID, min_level=LEVEL or subject=SUB; "
    "e.g. 'members,min_level=manager' or 'components=droit+medecine,service=alumni'"
)


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
        raise CliError(f"{option}: {error}") from None


def components_add(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("POST", "/v1/components", {"id": args.id, "name": args.name})


def components_list(gateway: Gateway, args: argparse.Namespace) -> Any:
    return {"components": list(gateway.pages("/v1/components", "components"))}


def services_add(gateway: Gateway, args: argparse.Namespace) -> Any:
    path = f"/v1/components/{quote(args.component)}/services"
    return gateway.call("POST", path, {"id": args.id, "name": args.name})


def levels_set(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("PUT", "/v1/organisation/levels", {"levels": args.levels})


def show(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("GET", "/v1/organisation")


def people_put(gateway: Gateway, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"roles": args.role or []}
    if args.component:
        body["component_id"] = args.component
    if args.service:
        body["service_id"] = args.service
    if args.level:
        body["level"] = args.level
    return gateway.call("PUT", f"/v1/people/{quote(args.subject)}", body)


def people_remove(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("DELETE", f"/v1/people/{quote(args.subject)}")


def attributes_define(gateway: Gateway, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"type": args.type, "choices": args.choice or []}
    if args.label_fr:
        body["label_fr"] = args.label_fr
    if args.label_en:
        body["label_en"] = args.label_en
    path = f"/v1/components/{quote(args.component)}/attributes/{quote(args.key)}"
    return gateway.call("PUT", path, body)


def catalogue(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("GET", "/v1/catalogue")


def policies_set(gateway: Gateway, args: argparse.Namespace) -> Any:
    if args.file:
        if args.read or args.write:
            raise CliError("give the grants either in --file or with --read/--write, not both")
        body = read_json_file(args.file, "--file")
        if not isinstance(body, dict):
            raise CliError('--file: expected {"read": [...], "write": [...]}')
    else:
        body = {"read": _grants(args.read, "--read"), "write": _grants(args.write, "--write")}
    return gateway.call("PUT", f"/v1/field-policies/{quote(args.field)}", body)


def policies_list(gateway: Gateway, args: argparse.Namespace) -> Any:
    return {"policies": list(gateway.pages("/v1/field-policies", "policies"))}


def policies_history(gateway: Gateway, args: argparse.Namespace) -> Any:
    return paged(gateway, args, "/v1/field-policies/changes", "changes", field=args.field)


def add_parser(commands: Subparsers) -> None:
    """Adds `org` and its subcommands to the `crm` parser."""
    areas = area(
        commands,
        "org",
        help="the organisation tree, the catalogue and the field policies (via the gateway)",
        description=__doc__ or "",
        dest="area",
    )

    def group(name: str, help: str) -> Subparsers:
        return area(areas, name, help=help, description=help)

    verbs = group("components", "the components of the grouping")
    p = command(
        verbs,
        "add",
        components_add,
        "register a component (admin)",
        ["crm org components add sciences 'Faculté des sciences'"],
    )
    p.add_argument("id", help="slug, e.g. sciences")
    p.add_argument("name", help="display name, e.g. 'Faculté des sciences'")
    command(
        verbs,
        "list",
        components_list,
        "list the components",
        ["crm org components list", "crm org components list --format table"],
        reads=True,
    )

    verbs = group("services", "the services inside components")
    p = command(
        verbs,
        "add",
        services_add,
        "add a service inside a component (admin)",
        ["crm org services add sciences relations-entreprises 'Relations entreprises'"],
    )
    p.add_argument("component", help="the component, e.g. sciences")
    p.add_argument("id", help="slug, e.g. relations-entreprises")
    p.add_argument("name", help="display name")

    verbs = group("levels", "the hierarchy levels")
    p = command(
        verbs,
        "set",
        levels_set,
        "replace the levels, lowest first (admin)",
        ["crm org levels set agent manager director"],
    )
    p.add_argument("levels", nargs="*", help="e.g. agent manager director")

    command(areas, "show", show, "print the whole tree (people: admins only)", ["crm org show"])

    verbs = group("people", "the people of the organisation and their roles")
    p = command(
        verbs,
        "put",
        people_put,
        "put a person in the tree with their roles (admin)",
        [
            "crm org people put alice@sciences --component sciences --level manager "
            "--role campaign_manager"
        ],
    )
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
    p = command(
        verbs,
        "remove",
        people_remove,
        "remove a person from the tree (admin)",
        ["crm org people remove alice@sciences"],
    )
    p.add_argument("subject", help="the `sub` of their tokens")

    verbs = group("attributes", "the attributes components declare")
    p = command(
        verbs,
        "define",
        attributes_define,
        "declare or change an attribute (admin)",
        ["crm org attributes define sciences promo --type enum --choice 2024 --choice 2025"],
    )
    p.add_argument("component", help="the component that owns it")
    p.add_argument("key", help="[a-z][a-z0-9_]{0,63}, e.g. taxe_apprentissage")
    p.add_argument("--type", required=True, choices=["text", "number", "date", "boolean", "enum"])
    p.add_argument("--choice", action="append", help="repeatable: the choices of an enum")
    p.add_argument("--label-fr", help="French label")
    p.add_argument("--label-en", help="English label")

    command(areas, "catalogue", catalogue, "print the field catalogue", ["crm org catalogue"])

    verbs = group("policies", "the field policies")
    p = command(
        verbs,
        "set",
        policies_set,
        "replace the policy of one field (admin)",
        [
            "crm org policies set sciences.promo --read members,min_level=manager --write owner",
            "crm org policies set phone --file policy.json",
        ],
    )
    p.add_argument("field", help="a core field or <component>.<key>")
    p.add_argument("--file", help='a JSON file {"read": [grant...], "write": [grant...]}')
    p.add_argument("--read", action="append", metavar="GRANT", help="repeatable: " + GRANT_HELP)
    p.add_argument("--write", action="append", metavar="GRANT", help="repeatable, as --read")
    command(
        verbs,
        "list",
        policies_list,
        "list the policies in force",
        ["crm org policies list"],
        reads=True,
    )
    p = command(
        verbs,
        "history",
        policies_history,
        "who changed which policy, newest first (admin)",
        [
            "crm org policies history --field phone",
            "crm org policies history --format csv > changes.csv",
        ],
        reads=True,
    )
    p.add_argument("--field", help="only this field")
    page_options(p, "changes")
