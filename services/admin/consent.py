"""`crm purposes ...`, `crm notices ...` and `crm basis-rules ...`: the consent catalogue.

Like `crm org`, every command talks to the gateway over HTTP with a bearer
token (`--token`, or CRM_TOKEN) and prints the gateway's JSON answer; an error
prints the problem the gateway answered and exits 1. Changes need an admin token.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.admin.command import Subparsers, area, command
from services.admin.http import CliError, Gateway, quote

CHANNELS = ("email", "sms", "phone", "post")
BASES = ("consent", "legitimate_interest", "contract", "legal_obligation")


def purposes_list(gateway: Gateway, args: argparse.Namespace) -> Any:
    query = {"include_inactive": args.all}
    return {"purposes": list(gateway.pages("/v1/consent/purposes", "purposes", query))}


def purposes_add(gateway: Gateway, args: argparse.Namespace) -> Any:
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
    return gateway.call("POST", "/v1/consent/purposes", body)


def purposes_update(gateway: Gateway, args: argparse.Namespace) -> Any:
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
        raise CliError("nothing to change: give --label-fr, --label-en, --channel or --active")
    return gateway.call("PATCH", f"/v1/consent/purposes/{quote(args.key)}", body)


def notices_publish(gateway: Gateway, args: argparse.Namespace) -> Any:
    if args.file:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeError) as error:
            raise CliError(f"--file: cannot read {args.file}: {error}") from None
    else:
        text = args.text
    if not text:
        raise CliError("give the notice's text: --text or --file")
    body = {"language": args.language, "text": text}
    return gateway.call("POST", f"/v1/consent/purposes/{quote(args.purpose)}/notices", body)


def notices_list(gateway: Gateway, args: argparse.Namespace) -> Any:
    path = f"/v1/consent/purposes/{quote(args.purpose)}/notices"
    return {"notices": list(gateway.pages(path, "notices"))}


def rules_list(gateway: Gateway, args: argparse.Namespace) -> Any:
    return {"rules": list(gateway.pages("/v1/consent/basis-rules", "rules"))}


def rules_set(gateway: Gateway, args: argparse.Namespace) -> Any:
    body = {
        "purpose": args.purpose,
        "channel": args.channel,
        "contact_kind": args.contact_kind,
        "basis": args.basis,
    }
    return gateway.call("PUT", "/v1/consent/basis-rules", body)


def add_parser(commands: Subparsers) -> None:
    """Adds `purposes`, `notices` and `basis-rules` to the `crm` parser."""
    doc = __doc__ or ""
    verbs = area(commands, "purposes", "the consent purposes catalogue (via the gateway)", doc)
    p = command(
        verbs,
        "list",
        purposes_list,
        "list the purposes",
        ["crm purposes list", "crm purposes list --all --format table"],
        reads=True,
    )
    p.add_argument("--all", action="store_true", help="inactive ones too")
    p = command(
        verbs,
        "add",
        purposes_add,
        "add a purpose (admin)",
        [
            "crm purposes add doctoral_school --label-fr 'École doctorale' "
            "--label-en 'Doctoral school' --channel email"
        ],
    )
    p.add_argument("key", help="[a-z0-9_-]{1,64}, e.g. doctoral_school")
    p.add_argument("--label-fr", required=True, help="French label")
    p.add_argument("--label-en", required=True, help="English label")
    p.add_argument(
        "--channel", action="append", choices=CHANNELS, help="repeatable (default email)"
    )
    p.add_argument("--owner", help="the owner component (absent: the grouping)")
    p.add_argument("--not-marketing", action="store_true", help="an objection does not stop it")
    p.add_argument("--retention-months", type=int, default=36, help="default 36")
    p = command(
        verbs,
        "update",
        purposes_update,
        "change labels, channels or active (admin)",
        ["crm purposes update doctoral_school --active false"],
    )
    p.add_argument("key", help="the purpose's key")
    p.add_argument("--label-fr", help="new French label")
    p.add_argument("--label-en", help="new English label")
    p.add_argument("--channel", action="append", choices=CHANNELS, help="repeatable: the new set")
    p.add_argument("--active", choices=["true", "false"], help="switch the purpose on or off")

    verbs = area(
        commands, "notices", "the versioned notices of the purposes (via the gateway)", doc
    )
    p = command(
        verbs,
        "publish",
        notices_publish,
        "publish the next version (admin)",
        ["crm notices publish newsletter --language fr --file notice-fr.txt"],
    )
    p.add_argument("purpose", help="the purpose's key")
    p.add_argument("--language", required=True, choices=["fr", "en"], help="fr or en")
    p.add_argument("--text", help="the text shown")
    p.add_argument("--file", help="a UTF-8 file holding the text shown")
    p = command(
        verbs,
        "list",
        notices_list,
        "every version of a purpose's notice",
        ["crm notices list newsletter"],
        reads=True,
    )
    p.add_argument("purpose", help="the purpose's key")

    verbs = area(
        commands, "basis-rules", "the legal basis per purpose, channel and contact kind", doc
    )
    command(
        verbs,
        "list",
        rules_list,
        "list the rules",
        ["crm basis-rules list --format table"],
        reads=True,
    )
    p = command(
        verbs,
        "set",
        rules_set,
        "set one rule (admin)",
        [
            "crm basis-rules set newsletter --channel email --contact-kind business "
            "--basis legitimate_interest"
        ],
    )
    p.add_argument("purpose", help="the purpose's key")
    p.add_argument("--channel", required=True, choices=CHANNELS, help="the channel")
    p.add_argument(
        "--contact-kind",
        required=True,
        choices=["consumer", "business"],
        help="consumer or business",
    )
    p.add_argument("--basis", required=True, choices=BASES, help="the legal basis")
