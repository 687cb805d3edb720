"""What an admin may write as the pressure policy: every valid policy passes, every flaw is named.

The strategies here (valid policies, and one flaw applied to a valid policy with
the field path it must be reported on) are reused by the store's integration
tests, which put them through PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument
from services.campaigns.policy_store import from_document, to_document
from services.campaigns.pressure_policy import (
    CHANNELS,
    MAX_GAP_SECONDS,
    MAX_QUIET_DATES,
    MAX_QUIET_DAYS,
    MAX_RULES,
    MAX_WINDOW_SECONDS,
    MIN_WINDOW_SECONDS,
    BudgetRule,
    PressurePolicy,
    QuietDates,
    QuietHours,
    Scope,
    default_policy,
    is_time_zone,
    policy_violations,
    validate_policy,
)

COMPONENTS = frozenset({"sciences", "lettres", "medecine"})
ZONES = ("Europe/Paris", "America/Montreal", "Pacific/Noumea", "UTC", "Asia/Tokyo")

ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
purposes = st.from_regex(r"[a-z0-9_-]{1,30}", fullmatch=True)


@st.composite
def rules(draw: st.DrawFn, rule_id: str) -> BudgetRule:
    scope = draw(st.sampled_from(list(Scope)))
    value = {
        Scope.GROUPING: st.just(""),
        Scope.COMPONENT: st.sampled_from(sorted(COMPONENTS)),
        Scope.PURPOSE: purposes,
        Scope.CHANNEL: st.sampled_from(CHANNELS),
    }[scope]
    return BudgetRule(
        rule_id,
        scope,
        draw(value),
        draw(st.integers(1, 1000)),
        draw(st.integers(MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS)),
    )


minutes = st.builds(time, st.integers(0, 23), st.integers(0, 59))
labels = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)


@st.composite
def quiet_hours(draw: st.DrawFn) -> QuietHours:
    start = draw(minutes)
    end = draw(minutes.filter(lambda t: t != start))
    return QuietHours(start, end)


@st.composite
def quiet_dates(draw: st.DrawFn, period_id: str) -> QuietDates:
    start = draw(st.dates(date(2000, 1, 1), date(2100, 1, 1)))
    length = draw(st.integers(0, MAX_QUIET_DAYS))
    component = draw(st.sampled_from(["", *sorted(COMPONENTS)]))
    return QuietDates(period_id, component, start, start + timedelta(days=length), draw(labels))


@st.composite
def valid_policies(draw: st.DrawFn) -> PressurePolicy:
    """Any policy the store must accept (version, author and note left at their defaults)."""
    rule_ids = draw(st.lists(ids, max_size=6, unique=True))
    period_ids = draw(st.lists(ids, max_size=5, unique=True))
    return PressurePolicy(
        version=0,
        rules=tuple(draw(rules(i)) for i in rule_ids),
        min_gap_seconds=draw(st.integers(0, MAX_GAP_SECONDS)),
        quiet_hours=draw(st.none() | quiet_hours()),
        quiet_dates=tuple(draw(quiet_dates(i)) for i in period_ids),
        default_time_zone=draw(st.sampled_from(ZONES)),
    )


# --- flaws: each breaks one rule of a valid policy and names the path it must be reported on ---

Flaw = Callable[[st.DrawFn, PressurePolicy], tuple[PressurePolicy, str]]


def _with_rule(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, int]:
    """The policy with at least one rule, and the index of one of them."""
    if not policy.rules:
        policy = replace(policy, rules=(BudgetRule("only", Scope.GROUPING, "", 3, 86400),))
    return policy, draw(st.integers(0, len(policy.rules) - 1))


def _set_rule(policy: PressurePolicy, index: int, rule: BudgetRule) -> PressurePolicy:
    return replace(policy, rules=policy.rules[:index] + (rule,) + policy.rules[index + 1 :])


def bad_rule_id(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    policy, i = _with_rule(draw, policy)
    bad = draw(st.sampled_from(["", "Grouping", "a b", "-start", "_start", "é", "x" * 64]))
    return _set_rule(policy, i, replace(policy.rules[i], id=bad)), f"rules[{i}].id"


def duplicate_rule_id(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    first = BudgetRule("twice", Scope.GROUPING, "", 3, 86400)
    policy = replace(policy, rules=(first, *policy.rules))
    i = draw(st.integers(1, len(policy.rules)))
    rules_ = list(policy.rules)
    rules_.insert(i, replace(first, max_messages=5))
    return replace(policy, rules=tuple(rules_)), f"rules[{i}].id"


def bad_scope_value(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    policy, i = _with_rule(draw, policy)
    scope, value = draw(
        st.sampled_from(
            [
                (Scope.GROUPING, "sciences"),
                (Scope.COMPONENT, ""),
                (Scope.COMPONENT, "droit"),  # not in the tree
                (Scope.PURPOSE, ""),
                (Scope.PURPOSE, "News Letter"),
                (Scope.PURPOSE, "x" * 65),
                (Scope.CHANNEL, ""),
                (Scope.CHANNEL, "fax"),
                (Scope.CHANNEL, "Email"),
            ]
        )
    )
    rule = replace(policy.rules[i], scope=scope, scope_value=value)
    return _set_rule(policy, i, rule), f"rules[{i}].scope_value"


def bad_max_messages(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    policy, i = _with_rule(draw, policy)
    bad = draw(st.integers(max_value=0) | st.integers(min_value=1001))
    rule = replace(policy.rules[i], max_messages=bad)
    return _set_rule(policy, i, rule), f"rules[{i}].max_messages"


def bad_window(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    policy, i = _with_rule(draw, policy)
    bad = draw(
        st.integers(max_value=MIN_WINDOW_SECONDS - 1)
        | st.integers(min_value=MAX_WINDOW_SECONDS + 1)
    )
    rule = replace(policy.rules[i], window_seconds=bad)
    return _set_rule(policy, i, rule), f"rules[{i}].window_seconds"


def bad_gap(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    bad = draw(st.integers(max_value=-1) | st.integers(min_value=MAX_GAP_SECONDS + 1))
    return replace(policy, min_gap_seconds=bad), "min_gap_seconds"


def too_many_rules(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    many = tuple(BudgetRule(f"r{n}", Scope.GROUPING, "", 3, 86400) for n in range(MAX_RULES + 1))
    return replace(policy, rules=many), "rules"


def hours_off_the_minute(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    hours = draw(quiet_hours())
    name = draw(st.sampled_from(["start", "end"]))
    moment = getattr(hours, name)
    second, micro = draw(
        st.tuples(st.integers(0, 59), st.integers(0, 999_999)).filter(lambda p: p != (0, 0))
    )
    changed = replace(hours, **{name: moment.replace(second=second, microsecond=micro)})
    return replace(policy, quiet_hours=changed), f"quiet_hours.{name}"


def hours_start_is_end(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    moment = draw(minutes)
    return replace(policy, quiet_hours=QuietHours(moment, moment)), "quiet_hours.end"


def _with_period(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, int]:
    if not policy.quiet_dates:
        period = QuietDates("exams", "", date(2025, 6, 1), date(2025, 6, 20))
        policy = replace(policy, quiet_dates=(period,))
    return policy, draw(st.integers(0, len(policy.quiet_dates) - 1))


def _set_period(policy: PressurePolicy, index: int, period: QuietDates) -> PressurePolicy:
    dates = policy.quiet_dates
    return replace(policy, quiet_dates=dates[:index] + (period,) + dates[index + 1 :])


def period_backwards(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    policy, i = _with_period(draw, policy)
    period = policy.quiet_dates[i]
    end = period.start - timedelta(days=draw(st.integers(1, 400)))
    return _set_period(policy, i, replace(period, end=end)), f"quiet_dates[{i}].end"


def period_too_long(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    policy, i = _with_period(draw, policy)
    period = policy.quiet_dates[i]
    end = period.start + timedelta(days=draw(st.integers(MAX_QUIET_DAYS + 1, 5000)))
    return _set_period(policy, i, replace(period, end=end)), f"quiet_dates[{i}].end"


def period_of_unknown_component(
    draw: st.DrawFn, policy: PressurePolicy
) -> tuple[PressurePolicy, str]:
    policy, i = _with_period(draw, policy)
    component = draw(st.sampled_from(["droit", "Sciences", " "]))
    period = replace(policy.quiet_dates[i], component=component)
    return _set_period(policy, i, period), f"quiet_dates[{i}].component"


def bad_period_id(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    policy, i = _with_period(draw, policy)
    period = replace(policy.quiet_dates[i], id=draw(st.sampled_from(["", "A", "x y"])))
    return _set_period(policy, i, period), f"quiet_dates[{i}].id"


def period_label_with_control(
    draw: st.DrawFn, policy: PressurePolicy
) -> tuple[PressurePolicy, str]:
    policy, i = _with_period(draw, policy)
    label = draw(st.sampled_from(["a\x00b", "line\nbreak", "x" * 201]))
    period = replace(policy.quiet_dates[i], label=label)
    return _set_period(policy, i, period), f"quiet_dates[{i}].label"


def too_many_periods(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    day = date(2025, 1, 1)
    many = tuple(QuietDates(f"p{n}", "", day, day) for n in range(MAX_QUIET_DATES + 1))
    return replace(policy, quiet_dates=many), "quiet_dates"


def bad_time_zone(draw: st.DrawFn, policy: PressurePolicy) -> tuple[PressurePolicy, str]:
    zone = draw(st.sampled_from(["", "Paris", "Europe/Atlantis", "../etc/passwd", "CET+1"]))
    return replace(policy, default_time_zone=zone), "default_time_zone"


FLAWS: list[Flaw] = [
    bad_rule_id,
    duplicate_rule_id,
    bad_scope_value,
    bad_max_messages,
    bad_window,
    bad_gap,
    too_many_rules,
    hours_off_the_minute,
    hours_start_is_end,
    period_backwards,
    period_too_long,
    period_of_unknown_component,
    bad_period_id,
    period_label_with_control,
    too_many_periods,
    bad_time_zone,
]


@st.composite
def flawed_policies(draw: st.DrawFn) -> tuple[PressurePolicy, str]:
    """A policy with one flaw, and the field path a violation must name."""
    flaw = draw(st.sampled_from(FLAWS))
    return flaw(draw, draw(valid_policies()))


# --- the properties ---------------------------------------------------------------------------


@given(valid_policies())
def test_every_valid_policy_passes(policy: PressurePolicy) -> None:
    assert policy_violations(policy, COMPONENTS) == []
    validate_policy(policy, COMPONENTS)


@given(flawed_policies())
def test_every_flaw_is_refused_naming_its_field(case: tuple[PressurePolicy, str]) -> None:
    policy, path = case
    with pytest.raises(InvalidArgument) as refused:
        validate_policy(policy, COMPONENTS)
    fields = {v.field for v in refused.value.violations}
    assert path in fields, (path, fields)
    assert path in refused.value.detail


@given(valid_policies())
def test_the_stored_document_gives_back_the_same_policy(policy: PressurePolicy) -> None:
    stamped = replace(policy, version=7, changed_by="admin@grouping", note="why")
    document = to_document(stamped)
    assert "version" not in document and "changed_by" not in document
    assert from_document(document, version=7, changed_by="admin@grouping", note="why") == stamped


def test_a_component_rule_needs_the_component_in_the_tree() -> None:
    rule = BudgetRule("sci", Scope.COMPONENT, "sciences", 2, 86400)
    policy = PressurePolicy(version=0, rules=(rule,))
    assert policy_violations(policy, {"sciences"}) == []
    assert [v.field for v in policy_violations(policy, set())] == ["rules[0].scope_value"]


def test_every_flaw_of_one_policy_is_reported_at_once() -> None:
    policy = PressurePolicy(
        version=0,
        rules=(BudgetRule("A", Scope.CHANNEL, "fax", 0, 10),),
        min_gap_seconds=-1,
        default_time_zone="Nowhere/City",
    )
    fields = [v.field for v in policy_violations(policy, COMPONENTS)]
    assert fields == [
        "rules[0].id",
        "rules[0].scope_value",
        "rules[0].max_messages",
        "rules[0].window_seconds",
        "min_gap_seconds",
        "default_time_zone",
    ]


def test_the_settings_default_is_a_valid_policy() -> None:
    assert policy_violations(default_policy(3, 604800), COMPONENTS) == []


def test_time_zones_are_the_iana_names() -> None:
    assert is_time_zone("Pacific/Noumea") and is_time_zone("America/Montreal")
    assert not is_time_zone("europe/paris") and not is_time_zone("")
