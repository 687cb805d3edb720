"""The reference model of the rolling pressure window."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.campaigns.policy import PressureRule, Verdict, reserve

rules = st.builds(
    PressureRule,
    name=st.just("global"),
    max_per_window=st.integers(min_value=1, max_value=5),
    window_seconds=st.integers(min_value=1, max_value=10),
)
# (delivery, milliseconds since the previous call)
steps = st.lists(
    st.tuples(
        st.sampled_from(["c1:x", "c2:x", "c3:x", "c4:x", "c5:x", "c6:x"]),
        st.integers(min_value=0, max_value=4000),
    ),
    max_size=40,
)


def play(rule: PressureRule, script: list[tuple[str, int]]):  # type: ignore[no-untyped-def]
    slots: dict[str, int] = {}
    now = 1_700_000_000_000
    for member, elapsed in script:
        now += elapsed
        answer, slots = reserve(slots, member, now, rule)
        yield member, now, answer, slots


@given(rules, steps)
def test_never_more_grants_than_the_rule_allows_in_any_window(rule: PressureRule, script) -> None:  # type: ignore[no-untyped-def]
    granted = [now for _, now, answer, _ in play(rule, script) if answer.verdict is Verdict.ALLOWED]
    for end in granted:
        in_window = [t for t in granted if end - rule.window_ms < t <= end]
        assert len(in_window) <= rule.max_per_window


@given(rules, steps)
def test_slots_never_exceed_the_maximum(rule: PressureRule, script) -> None:  # type: ignore[no-untyped-def]
    for _, now, _, slots in play(rule, script):
        assert len(slots) <= rule.max_per_window
        assert all(now - rule.window_ms < at <= now for at in slots.values())


@given(rules, steps)
def test_reserving_again_is_idempotent(rule: PressureRule, script) -> None:  # type: ignore[no-untyped-def]
    for member, now, answer, slots in play(rule, script):
        if answer.may_send:
            again, after = reserve(slots, member, now, rule)
            assert again.verdict is Verdict.ALREADY_RESERVED
            assert after == slots


@given(rules, steps)
def test_capped_until_the_oldest_slot_leaves_the_window(rule: PressureRule, script) -> None:  # type: ignore[no-untyped-def]
    for _, now, answer, slots in play(rule, script):
        if answer.verdict is Verdict.CAPPED:
            assert answer.retry_at_ms > now
            before, _ = reserve(slots, "late:x", answer.retry_at_ms - 1, rule)
            at, _ = reserve(slots, "late:x", answer.retry_at_ms, rule)
            assert before.verdict is Verdict.CAPPED
            assert at.verdict is Verdict.ALLOWED


@given(rules, st.integers(min_value=1, max_value=30))
def test_a_quiet_contact_gets_exactly_the_maximum(rule: PressureRule, senders: int) -> None:
    slots: dict[str, int] = {}
    verdicts = []
    for index in range(senders):
        answer, slots = reserve(slots, f"campaign-{index}:x", 1_000, rule)
        verdicts.append(answer.verdict)
    assert verdicts.count(Verdict.ALLOWED) == min(senders, rule.max_per_window)
