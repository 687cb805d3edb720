"""`crm purposes ...`, `crm notices ...` and `crm basis-rules ...`: the consent catalogue.

Like `crm org`, every command talks to the gateway over HTTP with a bearer
token (`--token`, or CRM_TOKEN) and prints the gateway's JSON answer; an error
prints the problem the gateway answered and exits 1. Changes need an admin token.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.org_cli import DEFAULT_GATEWAY, OrgError, _call, _quote, _runner

CHANNELS = ("email", "sms", "phone", "post")
BASES = ("consent", "legitimate_interest", "contract", "legal_obligation")


def purposes_list(args: argparse.Namespace) -> Any:
    suffix = "?include_inactive=true" if args.all else ""
    return _call(args, "GET", f"/v1/consent/purposes{suffix}")


def purposes_add(args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {
        "key": args.key,
        "label_fr": args.label_fr,
        "label_en": args.label_en,
        "channels": args.channel or ["email"],
        "marketing": not args.not_marketing,
        "retention_months": args.retention_months,
    }
    if args.owner:
        body["owner_component_id"] = args.owner
    return _call(args, "POST", "/v1/consent/purposes", body)


def purposes_update(args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {}
    if args.label_fr is not None:
        body["label_fr"] = args.label_fr
    if args.label_en is not None:
        body["label_en"] = args.label_en
    if args.channel:
        body["channels"] = args.channel
    if args.active is not None:
        body["active"] = args.active == "true"
    if not body:
        raise OrgError("nothing to change: give --label-fr, --label-en, --channel or --active")
    return _call(args, "PATCH", f"/v1/consent/purposes/{_quote(args.key)}", body)


def notices_publish(args: argparse.Namespace) -> Any:
    text = Path(args.file).read_text(encoding="utf-8") if args.file else args.text
    if not text:
        raise OrgError("give the notice's text: --text or --file")
    body = {"language": args.language, "text": text}
    return _call(args, "POST", f"/v1/consent/purposes/{_quote(args.purpose)}/notices", body)


def notices_list(args: argparse.Namespace) -> Any:
    return _call(args, "GET", f"/v1/consent/purposes/{_quote(args.purpose)}/notices")


def rules_list(args: argparse.Namespace) -> Any:
    return _call(args, "GET", "/v1/consent/basis-rules")


def rules_set(args: argparse.Namespace) -> Any:
    body = {
        "purpose": args.purpose,
        "channel": args.channel,
        "contact_kind": args.contact_kind,
        "basis": args.basis,
    }
    return _call(args, "PUT", "/v1/consent/basis-rules", body)


def add_parser(commands: Any) -> None:
    """Adds `purposes`, `notices` and `basis-rules` to the `crm` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--gateway", default=DEFAULT_GATEWAY, help=f"gateway base URL (default {DEFAULT_GATEWAY})"
    )
    common.add_argument("--token", help="bearer token (default: the CRM_TOKEN variable)")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds per request")

    def area(name: str, help: str) -> Any:
        parser = commands.add_parser(name, help=help, description=__doc__)
        return parser.add_subparsers(dest="verb", required=True)

    def command(verbs: Any, name: str, run: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(
            name, help=help, description=help, parents=[common]
        )
        p.set_defaults(run=_runner(run))
        return p

    verbs = area("purposes", help="the consent purposes catalogue (via the gateway)")
    p = command(verbs, "list", purposes_list, "list the purposes")
    p.add_argument("--all", action="store_true", help="inactive ones too")
    p = command(verbs, "add", purposes_add, "add a purpose (admin)")
    p.add_argument("key", help="[a-z0-9_-]{1,64}, e.g. doctoral_school")
    p.add_argument("--label-fr", required=True)
    p.add_argument("--label-en", required=True)
    p.add_argument(
        "--channel", action="append", choices=CHANNELS, help="repeatable (default email)"
    )
    p.add_argument("--owner", help="the owner component (absent: the grouping)")
    p.add_argument("--not-marketing", action="store_true", help="an objection does not stop it")
    p.add_argument("--retention-months", type=int, default=36)
    p = command(verbs, "update", purposes_update, "change labels, channels or active (admin)")
    p.add_argument("key")
    p.add_argument("--label-fr")
    p.add_argument("--label-en")
    p.add_argument("--channel", action="append", choices=CHANNELS, help="repeatable: the new set")
    p.add_argument("--active", choices=["true", "false"])

    verbs = area("notices", help="the versioned notices of the purposes (via the gateway)")
    p = command(verbs, "publish", notices_publish, "publish the next version (admin)")
    p.add_argument("purpose")
    p.add_argument("--language", required=True, choices=["fr", "en"])
    p.add_argument("--text", help="the text shown")
    p.add_argument("--file", help="a UTF-8 file holding the text shown")
    p = command(verbs, "list", notices_list, "every version of a purpose's notice")
    p.add_argument("purpose")

    verbs = area("basis-rules", help="the legal basis per purpose, channel and contact kind")
    command(verbs, "list", rules_list, "list the rules")
    p = command(verbs, "set", rules_set, "set one rule (admin)")
    p.add_argument("purpose")
    p.add_argument("--channel", required=True, choices=CHANNELS)
    p.add_argument("--contact-kind", required=True, choices=["consumer", "business"])
    p.add_argument("--basis", required=True, choices=BASES)
