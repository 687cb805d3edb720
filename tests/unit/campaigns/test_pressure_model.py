"""The reference model of one reservation: every rule touching a message, the gap, holdback."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.pressure_policy import (
    Answer,
    BudgetRule,
    Logged,
    Message,
    PressurePolicy,
    Scope,
    default_policy,
    evaluate,
)

COMPONENTS = ("sciences", "lettres", "iae")
PURPOSES = ("news", "events")
CHANNELS = ("email", "phone")

messages = st.builds(
    Message,
    component=st.sampled_from(COMPONENTS),
    purpose=st.sampled_from(PURPOSES),
    channel=st.sampled_from(CHANNELS),
)


@st.composite
def rules(draw: st.DrawFn) -> BudgetRule:
    scope = draw(st.sampled_from(list(Scope)))
    value = {
        Scope.GROUPING: "",
        Scope.COMPONENT: draw(st.sampled_from(COMPONENTS)),
        Scope.PURPOSE: draw(st.sampled_from(PURPOSES)),
        Scope.CHANNEL: draw(st.sampled_from(CHANNELS)),
    }[scope]
    return BudgetRule(
        f"r{draw(st.integers(0, 99))}",
        scope,
        value,
        draw(st.integers(1, 4)),
        draw(st.integers(1, 10)),
    )


policies = st.builds(
    PressurePolicy,
    version=st.just(1),
    rules=st.lists(rules(), min_size=1, max_size=4).map(tuple),
    min_gap_seconds=st.sampled_from([0, 0, 1, 3]),
)
# (message, milliseconds since the previous attempt, an interaction recorded by staff?)
attempts = st.lists(
    # Distinct times: a log orders entries of the same millisecond by key, not by arrival.
    st.tuples(messages, st.integers(1, 4000), st.sampled_from([False, False, False, True])),
    max_size=30,
)


def play(policy: PressurePolicy, script: list[tuple[Message, int, bool]]):  # type: ignore[no-untyped-def]
    """Campaign mails ask; interactions are logged whatever the budget (they happened)."""
    log: list[Logged] = []
    now = 1_700_000_000_000
    for index, (message, elapsed, interaction) in enumerate(script):
        now += elapsed
        if interaction:
            log.append(Logged(f"i:{index}", message, now))
            continue
        key = f"d:{index}"
        answer, retry, rule = evaluate(policy, log, key, message, now)
        yield message, now, answer, retry, rule, list(log)
        if answer is Answer.ALLOWED:
            log.append(Logged(key, message, now))


@given(policies, attempts)
def test_no_mail_leaves_over_any_rule(policy: PressurePolicy, script) -> None:  # type: ignore[no-untyped-def]
    for message, now, answer, _, _, log in play(policy, script):
        if answer is not Answer.ALLOWED:
            continue
        for rule in policy.rules_for(message):
            inside = [
                m for m in log if rule.counts_logged(m) and now - rule.window_ms < m.at_ms <= now
            ]
            assert len(inside) + 1 <= rule.max_messages


def test_an_interaction_counts_only_under_its_channel_rules() -> None:
    grouping = BudgetRule("all", Scope.GROUPING, "", 1, 3600)
    phone = BudgetRule("phone", Scope.CHANNEL, "phone", 1, 3600)
    policy = PressurePolicy(1, (grouping, phone), min_gap_seconds=600)
    call = [Logged("i:1", Message("sciences", "", "phone"), 1_000)]
    # A call spends neither the grouping's mail budget nor the gap between mails...
    assert evaluate(policy, call, "d:1", Message("sciences", "news", "email"), 2_000)[0] is (
        Answer.ALLOWED
    )
    # ...but a phone rule counts it.
    assert evaluate(policy, call, "d:1", Message("sciences", "news", "phone"), 2_000)[2] == (
        "pressure:phone:1/3600s"
    )


@given(policies, attempts)
def test_no_two_messages_closer_than_the_gap(policy: PressurePolicy, script) -> None:  # type: ignore[no-untyped-def]
    granted = [now for _, now, answer, *_ in play(policy, script) if answer is Answer.ALLOWED]
    for earlier, later in zip(granted, granted[1:], strict=False):  # mails only
        assert later - earlier >= policy.min_gap_seconds * 1000


@given(policies, attempts, messages)
def test_over_until_exactly_the_retry_time(policy: PressurePolicy, script, late: Message) -> None:  # type: ignore[no-untyped-def]
    for _, now, _, _, _, log in play(policy, script):
        answer, retry, rule = evaluate(policy, log, "late", late, now)
        if answer is Answer.OVER:
            assert retry > now
            assert rule  # the deciding rule is named
            before, *_ = evaluate(policy, log, "late", late, retry - 1)
            at, *_ = evaluate(policy, log, "late", late, retry)
            assert before is Answer.OVER
            assert at is Answer.ALLOWED


@given(policies, attempts)
def test_a_message_already_logged_is_reserved_not_counted_twice(
    policy: PressurePolicy, script
) -> None:  # type: ignore[no-untyped-def]
    for _, now, _, _, _, log in play(policy, script):
        for logged in log:  # mails only: an interaction is recorded, never reserved
            if logged.key.startswith("d:") and logged.at_ms >= now - policy.horizon_ms:
                answer, *_ = evaluate(policy, log, logged.key, logged.message, now)
                assert answer is Answer.RESERVED


@given(st.integers(1, 5), st.integers(0, 6))
def test_holdback_leaves_slots_to_higher_priorities(maximum: int, holdback: int) -> None:
    policy = default_policy(maximum, 3600)
    message = Message("sciences", "news", "email")
    answer, *_ = evaluate(policy, [], "d:low", message, 1_000_000, holdback=holdback)
    assert (answer is Answer.ALLOWED) == (holdback < maximum)


def test_a_component_rule_counts_only_that_component() -> None:
    rule = BudgetRule("sci", Scope.COMPONENT, "sciences", 1, 3600)
    policy = PressurePolicy(1, (rule,))
    theirs = [Logged("d:1", Message("lettres", "news", "email"), 1_000)]
    ours = [Logged("d:1", Message("sciences", "news", "email"), 1_000)]
    sciences = Message("sciences", "events", "email")
    assert evaluate(policy, theirs, "d:2", sciences, 2_000)[0] is Answer.ALLOWED
    answer, retry, code = evaluate(policy, ours, "d:2", sciences, 2_000)
    assert (answer, retry, code) == (Answer.OVER, 1_000 + 3_600_000, "pressure:sci:1/3600s")
    # Another component is not under the sciences rule at all.
    assert (
        evaluate(policy, ours, "d:2", Message("iae", "news", "email"), 2_000)[0] is Answer.ALLOWED
    )


@given(policies, attempts, st.integers(0, 3))
def test_a_log_over_its_rules_keeps_only_the_earliest_entries(  # type: ignore[no-untyped-def]
    policy: PressurePolicy, script, extra: int
) -> None:
    # A log rebuilt from the database can hold more than a rule allows: mails in flight
    # whose reservations were lost while others took their slots. Only the entries that
    # fit, earliest first, still hold a slot; the others are asked again and wait.
    log = [Logged(f"d:{i}", message, 1_000 + i) for i, (message, _, _) in enumerate(script)]
    now = 1_000 + len(script)
    holding = [m for m in log if evaluate(policy, log, m.key, m.message, now)[0] is Answer.RESERVED]
    for rule in policy.rules:
        counted = [m for m in holding if rule.counts_logged(m) and m.at_ms > now - rule.window_ms]
        assert len(counted) <= rule.max_messages
