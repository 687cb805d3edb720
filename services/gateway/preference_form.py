"""What a person's preference form asks for: the pure part of the preference page.

The page offers one checkbox per choice (a purpose, on one channel, for the whole
grouping or for one component). The form sends back the keys of the boxes left
ticked. Compared with the person's current state, re-read when the form arrives,
that makes the grants and withdrawals to record: a box ticked that was not
subscribed is a grant, a box unticked that was subscribed is a withdrawal, and
anything else changes nothing (so sending the same form twice records nothing
the second time). Only choices the page offers can change: a key the page did
not offer is ignored, never recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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


def changes(
    offered: Iterable[Choice], subscribed: Collection[Choice], ticked_keys: Iterable[str]
) -> Changes:
    """The grants and withdrawals that bring `subscribed` to the ticked boxes, over `offered`."""
    offered = sorted(set(offered))
    ticked = set(ticked_keys)
    grants = tuple(c for c in offered if c.key in ticked and c not in subscribed)
    withdrawals = tuple(c for c in offered if c.key not in ticked and c in subscribed)
    return Changes(grants, withdrawals)
