"""What a person's preference form asks for: the pure part of the preference page.

The page offers one checkbox per choice (a purpose, on one channel, for the whole
grouping or for one component). The form sends back the keys of the boxes left
ticked, and of those it showed ticked. Compared with the person's current state,
re-read when the form arrives, that makes the grants and withdrawals to record:
a box the person ticked that is not subscribed is a grant, a box they unticked
that is subscribed is a withdrawal, and anything else changes nothing (so
sending the same form twice records nothing the second time). Only choices the
page offers can change: a key the page did not offer is ignored, never recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

GROUPING = "grouping"
_SEPARATOR = "|"


@dataclass(frozen=True, order=True)
class Choice:
    """One checkbox: a purpose on a channel, for the grouping or for one component."""

    scope: str  # GROUPING or a component id
    purpose: str
    channel: str

    @property
    def key(self) -> str:
        """The form value that names this choice."""
        return _SEPARATOR.join((self.scope, self.purpose, self.channel))

    @property
    def is_grouping(self) -> bool:
        return self.scope == GROUPING


@dataclass(frozen=True)
class Changes:
    """What one submitted form records: grants, then withdrawals."""

    grants: tuple[Choice, ...]
    withdrawals: tuple[Choice, ...]

    @property
    def empty(self) -> bool:
        return not self.grants and not self.withdrawals


@dataclass(frozen=True)
class Offer:
    """A purpose the page may offer: its channels, and whether a grant can name a notice."""

    purpose: str
    channels: tuple[str, ...]
    has_notice: bool


@dataclass(frozen=True)
class Menu:
    """The boxes of the page, and the choices shown without one (nothing to grant there)."""

    offered: tuple[Choice, ...]
    unavailable: tuple[Choice, ...]


def menu(
    offers: Iterable[Offer], components: Iterable[str], subscribed: Collection[Choice]
) -> Menu:
    """Every purpose on each of its channels, for the grouping then each component.

    A box is offered where a grant can point to the notice the person is shown,
    or where something is subscribed (withdrawing needs no notice); elsewhere
    the choice is shown without a box.
    """
    scopes = [GROUPING, *sorted(set(components) - {GROUPING})]
    offered: list[Choice] = []
    unavailable: list[Choice] = []
    for offer in offers:
        for scope in scopes:
            for channel in offer.channels:
                choice = Choice(scope, offer.purpose, channel)
                open_ = offer.has_notice or choice in subscribed
                (offered if open_ else unavailable).append(choice)
    return Menu(tuple(offered), tuple(unavailable))


def subscriptions(
    reachable: Mapping[Choice, bool], components: Iterable[str], offers: Iterable[Offer]
) -> frozenset[Choice]:
    """The choices subscribed, from what consent says may reach the person per choice.

    Consent answers for the grouping and for each component some event names; a
    component it does not name is decided by grouping-wide events alone, so it
    reads as the grouping does.
    """
    subscribed = set()
    for offer in offers:
        for channel in offer.channels:
            grouping = reachable.get(Choice(GROUPING, offer.purpose, channel), False)
            for scope in [GROUPING, *components]:
                choice = Choice(scope, offer.purpose, channel)
                if reachable.get(choice, grouping):
                    subscribed.add(choice)
    return frozenset(subscribed)


def in_recording_order(choices: Iterable[Choice]) -> list[Choice]:
    """Grouping-wide choices first: a component's own choice, recorded later, then wins."""
    return sorted(choices, key=lambda c: (not c.is_grouping, c))


def changes(
    offered: Iterable[Choice],
    subscribed: Collection[Choice],
    ticked_keys: Iterable[str],
    shown_keys: Iterable[str] | None = None,
) -> Changes:
    """The grants and withdrawals that bring `subscribed` to the ticked boxes, over `offered`.

    `shown_keys` are the boxes the page showed ticked: then only the boxes the
    person changed count, and only where the state still differs. A box left
    as shown records nothing, even when an earlier change moved its state (a
    component follows a grouping-wide choice): no grant from a box the person
    did not tick, and the same form sent twice records nothing the second time.
    """
    offered = sorted(set(offered))
    ticked = set(ticked_keys)
    shown = {c.key for c in subscribed} if shown_keys is None else set(shown_keys)
    grants = tuple(
        c for c in offered if c.key in ticked and c.key not in shown and c not in subscribed
    )
    withdrawals = tuple(
        c for c in offered if c.key not in ticked and c.key in shown and c in subscribed
    )
    return Changes(grants, withdrawals)
