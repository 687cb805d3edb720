"""The admin commands of `crm`: everything an administrator does, through the gateway.

One module per area (org, consent, pressure, contacts, campaigns, privacy), one
HTTP client for all of them (http.py), one way to build a command, print its
answer and exit (command.py). None of them touches a database.
"""

from __future__ import annotations

from services.admin import campaigns, consent, contacts, org, pressure, privacy
from services.admin.command import Subparsers

AREAS = (org, consent, pressure, contacts, campaigns, privacy)


def add_parsers(commands: Subparsers) -> None:
    """Adds every admin command to the `crm` parser's subcommands."""
    for module in AREAS:
        module.add_parser(commands)
