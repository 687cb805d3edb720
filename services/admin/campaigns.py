"""`crm campaigns ...`: where the caller's component's campaigns stand, and their lifecycle.

`show` prints a campaign with its recipients per outcome code (`outcome_counts`:
sent, deferred, no_consent...); `schedule`, `unschedule`, `pause`, `resume` and
`cancel` move it through its lifecycle (campaign_manager role). Every command
talks to the gateway with a bearer token (`--token`, or CRM_TOKEN); an error
prints the problem the gateway answered and exits 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from services.admin.command import Subparsers, area, command, page_options, paged
from services.admin.http import Gateway, quote

STEPS = {
    "unschedule": "take a scheduled campaign back to draft",
    "pause": "pause a running campaign: nobody else is mailed until it resumes",
    "resume": "resume a paused campaign: the recipients not yet reached are mailed, once each",
    "cancel": "cancel a campaign for good: mail not yet sent is cancelled",
}


def campaigns_list(gateway: Gateway, args: argparse.Namespace) -> Any:
    campaigns = list(gateway.pages("/v1/campaigns", "campaigns", {"page_size": args.page_size}))
    if args.status:
        campaigns = [c for c in campaigns if c.get("status") in args.status]
    return {"campaigns": campaigns}


def show(gateway: Gateway, args: argparse.Namespace) -> Any:
    return gateway.call("GET", f"/v1/campaigns/{quote(args.id)}")


def schedule(gateway: Gateway, args: argparse.Namespace) -> Any:
    path = f"/v1/campaigns/{quote(args.id)}/schedule"
    return gateway.call("POST", path, {"send_at": args.at})


def step(name: str) -> Any:
    """One lifecycle step without options (POST .../<name> with `{}`)."""

    def run(gateway: Gateway, args: argparse.Namespace) -> Any:
        return gateway.call("POST", f"/v1/campaigns/{quote(args.id)}/{name}", {})

    return run


def deliveries(gateway: Gateway, args: argparse.Namespace) -> Any:
    return paged(gateway, args, f"/v1/campaigns/{quote(args.id)}/deliveries", "deliveries")


def add_parser(commands: Subparsers) -> None:
    """Adds `campaigns` and its verbs to the `crm` parser."""
    verbs = area(
        commands, "campaigns", "campaign status and lifecycle (via the gateway)", __doc__ or ""
    )
    p = command(
        verbs,
        "list",
        campaigns_list,
        "the campaigns of the token's component",
        ["crm campaigns list --format table", "crm campaigns list --status running"],
        reads=True,
    )
    p.add_argument(
        "--status",
        action="append",
        choices=["draft", "scheduled", "running", "paused", "done", "cancelled"],
        help="repeatable: only campaigns in these statuses (crm filters; the list cannot)",
    )
    p.add_argument("--page-size", type=int, default=0, help="campaigns per request (0: default)")

    p = command(
        verbs,
        "show",
        show,
        "one campaign with its recipients per outcome",
        ["crm campaigns show 6f1c... --format table"],
        reads=True,
    )
    p.add_argument("id", help="the campaign's id")

    p = command(
        verbs,
        "deliveries",
        deliveries,
        "who was reached, and the rule that decided for the others",
        ["crm campaigns deliveries 6f1c... --format csv > deliveries.csv"],
        reads=True,
    )
    p.add_argument("id", help="the campaign's id")
    page_options(p, "deliveries")

    p = command(
        verbs,
        "schedule",
        schedule,
        "schedule a draft to be sent at a time",
        ["crm campaigns schedule 6f1c... --at 2025-09-01T08:00:00+02:00"],
    )
    p.add_argument("id", help="the campaign's id")
    p.add_argument("--at", required=True, help="RFC 3339 with an offset, in the future")

    for name, help in STEPS.items():
        p = command(verbs, name, step(name), help, [f"crm campaigns {name} 6f1c..."])
        p.add_argument("id", help="the campaign's id")
