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
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from meshkit.errors import FieldViolation, Violations
from meshkit.purposes import PURPOSE_KEY_RULE, is_purpose_key

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

    def counts_logged(self, logged: Logged) -> bool:
        """Whether a logged message falls under this rule.

        An interaction recorded by staff (a call, a meeting, an SMS sent elsewhere)
        counts only under the channel rules of its channel: a budget of campaign
        mail is not spent by a meeting the person chose to attend.
        """
        if is_interaction(logged.key):
            return self.scope is Scope.CHANNEL and self.scope_value == logged.message.channel
        return self.counts(logged.message)

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
    def horizon_ms(self) -> int:
        """How far back the counters must remember (the minimum gap included)."""
        return max([r.window_ms for r in self.rules] + [self.min_gap_ms, 1000])

    @property
    def min_gap_ms(self) -> int:
        return self.min_gap_seconds * 1000


def default_policy(max_per_window: int, window_seconds: int) -> PressurePolicy:
    """Version 0: the one grouping-wide rule of the settings, until an admin writes a policy."""
    rule = BudgetRule("grouping", Scope.GROUPING, "", max_per_window, window_seconds)
    return PressurePolicy(version=0, rules=(rule,), note="from settings")


@dataclass(frozen=True)
class Counted:
    """A message the budget counts, as the database proves it (to rebuild the counters)."""

    contact_id: str  # the person (a merged id already mapped to its survivor)
    key: str  # unique per message: campaign_key(campaign id) for a campaign mail
    message: Message
    at: datetime


def campaign_key(campaign_id: str) -> str:
    """The key of a campaign's message to a person in the person's log."""
    return f"d:{campaign_id}"


def is_interaction(key: str) -> bool:
    """Whether a log key names an interaction recorded by staff ("i:<id>")."""
    return key.startswith("i:")


def campaign_of(key: str) -> str:
    """The campaign id of a campaign message's key; "" for another kind of message."""
    return key[2:] if key.startswith("d:") else ""


# --- The reference model of one reservation ----------------------------------------------


class Answer(StrEnum):
    ALLOWED = "allowed"
    RESERVED = "reserved"  # the message holds a slot already
    OVER = "over"


@dataclass(frozen=True)
class Logged:
    """A message in a contact's log: what the rules look at, and when it was counted."""

    key: str
    message: Message
    at_ms: int


def gap_rule_code(policy: PressurePolicy) -> str:
    return f"pressure:min_gap:{policy.min_gap_seconds}s"


def evaluate(
    policy: PressurePolicy,
    log: list[Logged],
    key: str,
    message: Message,
    now_ms: int,
    holdback: int = 0,
) -> tuple[Answer, int, str]:
    """(answer, retry-at ms, deciding rule code) for one message at `now_ms`.

    The Redis script (pressure.RESERVE_LUA) must agree with this function for
    every input. A logged message counts for a rule while now - at < window
    (an interaction only for the channel rules of its channel, and not for the gap);
    `holdback` slots of every grouping and channel rule are left to
    higher-priority campaigns waiting for the same person. When
    over, retry-at is the first time every rule and the gap would allow it,
    were nothing else sent meanwhile.

    A message already in the log is RESERVED only while its entry still holds a
    slot: under every rule, fewer than the maximum counted entries come before it
    (by time, then key), and none comes within the gap before it. A log rebuilt
    from the database may hold more entries than a rule allows (mails in flight
    whose reservations Redis lost while others took their slots); the later ones
    are then asked again as new messages, and wait.
    """
    horizon = policy.horizon_ms
    alive = [m for m in log if m.at_ms >= now_ms - horizon]
    mine = next((m for m in alive if m.key == key), None)
    alive = [m for m in alive if m.key != key]
    if mine is not None and _holds(policy, alive, mine, message, now_ms):
        return Answer.RESERVED, 0, ""
    retry, why = 0, ""
    mailed = [m for m in alive if not is_interaction(m.key)]
    if policy.min_gap_ms and mailed:
        newest = max(m.at_ms for m in mailed)
        if now_ms - newest < policy.min_gap_ms:
            retry, why = newest + policy.min_gap_ms, gap_rule_code(policy)
    for rule in policy.rules_for(message):
        scores = sorted(
            m.at_ms for m in alive if rule.counts_logged(m) and m.at_ms > now_ms - rule.window_ms
        )
        # Every campaign mail counts against grouping and channel rules: only there can a
        # higher-priority campaign of another component or purpose compete for the slot.
        held = holdback if rule.scope in (Scope.GROUPING, Scope.CHANNEL) else 0
        over = len(scores) + held - rule.max_messages + 1
        if over > 0:
            free_at = (
                scores[over - 1] + rule.window_ms
                if over <= len(scores)
                else now_ms + rule.window_ms
            )
            if free_at > retry:
                retry, why = free_at, rule.code
    if retry:
        return Answer.OVER, retry, why
    return Answer.ALLOWED, 0, ""


def _holds(
    policy: PressurePolicy, others: list[Logged], mine: Logged, message: Message, now_ms: int
) -> bool:
    """Whether a logged message still holds its slot among the others of the log."""
    before = [m for m in others if (m.at_ms, m.key) < (mine.at_ms, mine.key)]
    if policy.min_gap_ms and any(
        not is_interaction(m.key) and mine.at_ms - m.at_ms < policy.min_gap_ms for m in before
    ):
        return False
    for rule in policy.rules_for(message):
        counted = [m for m in before if rule.counts_logged(m) and m.at_ms > now_ms - rule.window_ms]
        if len(counted) + 1 > rule.max_messages:
            return False
    return True


# --- Quiet hours and quiet dates ---------------------------------------------------------


def zone_of(name: str, default: str = DEFAULT_TIME_ZONE) -> ZoneInfo:
    """The contact's zone; an unknown or empty name falls back to the policy's default."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


@dataclass(frozen=True)
class Quiet:
    """A quiet period holding a moment: when it ends (UTC), and the rule code that set it."""

    until: datetime
    rule: str


QUIET_HOURS_RULE = "quiet:hours"


def quiet_until(
    policy: PressurePolicy, component: str, time_zone: str, at: datetime
) -> Quiet | None:
    """When the quiet period holding `at` ends for this contact, or None: not quiet.

    Quiet hours and the quiet dates of the sending component (or of the whole
    grouping) are read in the contact's own time zone; periods that follow each
    other are joined (a quiet date ends at midnight, inside quiet hours). The rule
    is the first period's.
    """
    zone = zone_of(time_zone, policy.default_time_zone)
    moment = at.astimezone(zone)
    first = ""
    for _ in range(32):  # each step moves forward; a policy cannot chain more than this
        step = _quiet_step(policy, component, moment, zone)
        if step is None:
            break
        moment, rule = step
        first = first or rule
    return Quiet(moment.astimezone(UTC), first) if first else None


def _quiet_step(
    policy: PressurePolicy, component: str, moment: datetime, zone: ZoneInfo
) -> tuple[datetime, str] | None:
    for dates in policy.quiet_dates:
        if dates.component in ("", component) and dates.start <= moment.date() <= dates.end:
            midnight = datetime.combine(dates.end + timedelta(days=1), time(0), tzinfo=zone)
            return midnight, f"quiet:dates:{dates.id}"
    hours = policy.quiet_hours
    if hours is None:
        return None
    now = moment.time().replace(tzinfo=None)
    today = moment.date()
    end: datetime | None = None
    if hours.start < hours.end:
        if hours.start <= now < hours.end:
            end = datetime.combine(today, hours.end, tzinfo=zone)
    elif now >= hours.start:
        end = datetime.combine(today + timedelta(days=1), hours.end, tzinfo=zone)
    elif now < hours.end:
        end = datetime.combine(today, hours.end, tzinfo=zone)
    return (end, QUIET_HOURS_RULE) if end is not None else None


# --- Validation ---------------------------------------------------------------------------------
# What an admin may write (policy_store.put checks it before anything is written). Pure: the
# organisation's components are passed in (campaigns reads the tree from contacts), and a
# purpose is checked for its form only (meshkit.purposes), so writing a policy asks no peer
# but the tree.

DAY_SECONDS = 86_400
MAX_RULES = 100
MAX_QUIET_DATES = 500
MIN_MESSAGES, MAX_MESSAGES = 1, 1000
MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS = 60, 366 * DAY_SECONDS
MAX_GAP_SECONDS = 30 * DAY_SECONDS
MAX_QUIET_DAYS = 731  # two years, a leap day included: end - start at most this many days
MAX_LABEL = 200
MAX_NOTE = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """True for an IANA time zone name this machine knows (zoneinfo's list)."""
    return name in _time_zones()


def policy_violations(policy: PressurePolicy, components: Collection[str]) -> list[FieldViolation]:
    """Every reason `policy` may not be written, as field violations (empty: it may).

    `components` are the organisation tree's component ids. The version, author and
    note of `policy` are not looked at: the store sets them.
    """
    found = Violations()
    _check_rules(policy.rules, components, found)
    if not 0 <= policy.min_gap_seconds <= MAX_GAP_SECONDS:
        found.add("min_gap_seconds", f"must be 0 to {MAX_GAP_SECONDS} seconds (30 days)")
    if policy.quiet_hours is not None:
        _check_quiet_hours(policy.quiet_hours, found)
    _check_quiet_dates(policy.quiet_dates, components, found)
    if not is_time_zone(policy.default_time_zone):
        found.add("default_time_zone", "must be an IANA time zone, e.g. Europe/Paris")
    return found.items


def validate_policy(policy: PressurePolicy, components: Collection[str]) -> None:
    """InvalidArgument naming every bad field of `policy` (see policy_violations)."""
    found = Violations()
    found.items = policy_violations(policy, components)
    found.raise_if_any()


def _check_rules(
    rules: tuple[BudgetRule, ...], components: Collection[str], found: Violations
) -> None:
    if len(rules) > MAX_RULES:
        found.add("rules", f"at most {MAX_RULES} rules")
        return
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        path = f"rules[{index}]"
        if not RULE_ID.fullmatch(rule.id):
            found.add(f"{path}.id", _ID_RULE)
        elif rule.id in seen:
            found.add(f"{path}.id", "is used by an earlier rule: ids must be unique")
        seen.add(rule.id)
        scope_problem = _scope_problem(rule, components)
        if scope_problem is not None:
            found.add(f"{path}.scope_value", scope_problem)
        if not MIN_MESSAGES <= rule.max_messages <= MAX_MESSAGES:
            found.add(f"{path}.max_messages", f"must be {MIN_MESSAGES} to {MAX_MESSAGES}")
        if not MIN_WINDOW_SECONDS <= rule.window_seconds <= MAX_WINDOW_SECONDS:
            found.add(
                f"{path}.window_seconds",
                f"must be {MIN_WINDOW_SECONDS} to {MAX_WINDOW_SECONDS} seconds (366 days)",
            )


_ID_RULE = "must be 1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or digit"


def _scope_problem(rule: BudgetRule, components: Collection[str]) -> str | None:
    """Why the rule's scope value does not fit its scope, or None."""
    value = rule.scope_value
    if rule.scope is Scope.GROUPING:
        return None if value == "" else "must be empty for a grouping rule"
    if value == "":
        return f"is required for a {rule.scope.value} rule"
    if rule.scope is Scope.COMPONENT:
        return None if value in components else "is not a component of the organisation"
    if rule.scope is Scope.PURPOSE:
        return None if is_purpose_key(value) else f"must be a purpose key: {PURPOSE_KEY_RULE}"
    return None if value in CHANNELS else f"must be one of {', '.join(CHANNELS)}"


def _on_the_minute(value: time) -> bool:
    return value.second == 0 and value.microsecond == 0 and value.tzinfo is None


def _check_quiet_hours(hours: QuietHours, found: Violations) -> None:
    for name in ("start", "end"):
        if not _on_the_minute(getattr(hours, name)):
            found.add(f"quiet_hours.{name}", "must be a local time on the minute (HH:MM)")
    if hours.start == hours.end:
        found.add("quiet_hours.end", "must differ from start (give no quiet hours instead)")


def _check_quiet_dates(
    dates: tuple[QuietDates, ...], components: Collection[str], found: Violations
) -> None:
    if len(dates) > MAX_QUIET_DATES:
        found.add("quiet_dates", f"at most {MAX_QUIET_DATES} periods")
        return
    seen: set[str] = set()
    for index, period in enumerate(dates):
        path = f"quiet_dates[{index}]"
        if not RULE_ID.fullmatch(period.id):
            found.add(f"{path}.id", _ID_RULE)
        elif period.id in seen:
            found.add(f"{path}.id", "is used by an earlier period: ids must be unique")
        seen.add(period.id)
        if period.component and period.component not in components:
            found.add(f"{path}.component", "is not a component of the organisation")
        if period.end < period.start:
            found.add(f"{path}.end", "must not be before start")
        elif (period.end - period.start).days > MAX_QUIET_DAYS:
            found.add(f"{path}.end", f"at most {MAX_QUIET_DAYS} days after start (2 years)")
        if len(period.label) > MAX_LABEL or _CONTROL.search(period.label):
            found.add(f"{path}.label", f"at most {MAX_LABEL} characters, no control character")


def note_problem(note: str) -> str | None:
    """Why a change's note may not be kept, or None."""
    if len(note) > MAX_NOTE or "\x00" in note:
        return f"at most {MAX_NOTE} characters, no NUL"
    return None
