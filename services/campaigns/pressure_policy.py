"""The grouping's pressure policy, in plain Python: how often anyone may be contacted.

A policy is a set of budget rules ("at most N messages per rolling window W
for one person"), each scoped to the whole grouping, one component, one
purpose or one channel, plus a minimum gap between any two messages, quiet
hours in the contact's own time zone and quiet dates per component (an
academic calendar). Counting is per contact, across all components: a rule
scoped to a component counts that component's messages to the person, a rule
scoped to the grouping counts everyone's.

The policy lives in the campaigns database (policy_store.py), versioned: each
change makes a new version and the old ones stay readable (history).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum

# The channels a message or an interaction may use; a channel rule names one of them.
CHANNELS = ("email", "sms", "phone", "post", "meeting", "event", "other")
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_TIME_ZONE = "Europe/Paris"


class Scope(StrEnum):
    """Which messages a budget rule counts."""

    GROUPING = "grouping"  # every message to the person, from any component
    COMPONENT = "component"  # messages sent by one component (scope_value: its id)
    PURPOSE = "purpose"  # messages for one purpose of the consent catalogue
    CHANNEL = "channel"  # messages on one channel (email, phone, sms, ...)


@dataclass(frozen=True)
class Message:
    """What a budget rule looks at in one message to a person."""

    component: str
    purpose: str
    channel: str


@dataclass(frozen=True)
class BudgetRule:
    """At most `max_messages` messages per contact over any rolling `window_seconds`."""

    id: str  # stable key chosen by the admin, e.g. "grouping-weekly"
    scope: Scope
    scope_value: str  # "" for the grouping; else a component id, purpose key or channel
    max_messages: int
    window_seconds: int

    @property
    def code(self) -> str:
        """The rule code recorded in the ledger, e.g. "pressure:grouping-weekly:3/604800s"."""
        return f"pressure:{self.id}:{self.max_messages}/{self.window_seconds}s"

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    def counts(self, message: Message) -> bool:
        """Whether a message falls under this rule."""
        if self.scope is Scope.GROUPING:
            return True
        return (
            self.scope_value
            == {
                Scope.COMPONENT: message.component,
                Scope.PURPOSE: message.purpose,
                Scope.CHANNEL: message.channel,
            }[self.scope]
        )


@dataclass(frozen=True)
class QuietHours:
    """No message between `start` and `end`, local time of the contact (may wrap midnight)."""

    start: time
    end: time


@dataclass(frozen=True)
class QuietDates:
    """No message from `component` ("" = any component) from `start` to `end`, inclusive."""

    id: str
    component: str
    start: date
    end: date
    label: str = ""


@dataclass(frozen=True)
class PressurePolicy:
    """One version of the grouping's policy."""

    version: int
    rules: tuple[BudgetRule, ...]
    min_gap_seconds: int = 0  # between any two messages to one person; 0: no gap
    quiet_hours: QuietHours | None = None
    quiet_dates: tuple[QuietDates, ...] = ()
    default_time_zone: str = DEFAULT_TIME_ZONE  # for a contact whose zone is unknown
    changed_by: str = ""
    note: str = ""

    def rules_for(self, message: Message) -> tuple[BudgetRule, ...]:
        """The budget rules a message counts against."""
        return tuple(rule for rule in self.rules if rule.counts(message))

    @property
    def longest_window_seconds(self) -> int:
        """How far back the counters must remember (the minimum gap included)."""
        return max([r.window_seconds for r in self.rules] + [self.min_gap_seconds, 1])


def default_policy(max_per_window: int, window_seconds: int) -> PressurePolicy:
    """Version 0: the one grouping-wide rule of the settings, until an admin writes a policy."""
    rule = BudgetRule("grouping", Scope.GROUPING, "", max_per_window, window_seconds)
    return PressurePolicy(version=0, rules=(rule,), note="from settings")
