"""A contact's pressure status from its log: used, free and next slot per rule, the gap, and the
next allowed send, agreeing with the reference model of a reservation."""

from __future__ import annotations

from services.campaigns.pressure_policy import (
    Answer,
    BudgetRule,
    Logged,
    Message,
    PressurePolicy,
    Scope,
    evaluate,
)
from services.campaigns.pressure_status import STATUS_KEY, contact_pressure, rule_status

HOUR_MS = 3_600_000
NOW = 1_000 * HOUR_MS
WEEKLY = BudgetRule("weekly", Scope.GROUPING, "", 2, 7 * 24 * 3600)
PHONE = BudgetRule("phone", Scope.CHANNEL, "phone", 1, 24 * 3600)
SCIENCES = BudgetRule("sciences", Scope.COMPONENT, "sciences", 5, 24 * 3600)
MAIL = Message("sciences", "newsletter", "email")


def mail(key: str, hours_ago: int) -> Logged:
    return Logged(key, MAIL, NOW - hours_ago * HOUR_MS)


def test_used_free_and_the_next_slot_per_rule() -> None:
    log = [mail("d:1", 30), mail("d:2", 5), Logged("i:x", Message("lettres", "", "phone"), NOW)]
    weekly = rule_status(WEEKLY, log, NOW)
    assert (weekly.used, weekly.free) == (2, 0)  # the interaction is not campaign mail
    assert weekly.next_free_at is not None
    assert int(weekly.next_free_at.timestamp() * 1000) == NOW - 30 * HOUR_MS + WEEKLY.window_ms
    phone = rule_status(PHONE, log, NOW)  # the call counts under its channel's rule
    assert (phone.used, phone.free) == (1, 0)
    assert rule_status(PHONE, log, NOW + PHONE.window_ms).used == 0  # out of its window
    sciences = rule_status(SCIENCES, log, NOW)
    assert (sciences.used, sciences.free, sciences.next_free_at) == (1, 4, None)  # 30 h: out


def test_the_next_allowed_send_is_the_models_retry_time() -> None:
    policy = PressurePolicy(version=3, rules=(WEEKLY, PHONE, SCIENCES), min_gap_seconds=7200)
    log = [mail("d:1", 30), mail("d:2", 1)]
    status = contact_pressure("c1", policy, log, MAIL, NOW)
    answer, retry, rule = evaluate(policy, log, STATUS_KEY, MAIL, NOW)
    assert answer is Answer.OVER
    assert int(status.next_allowed_at.timestamp() * 1000) == retry
    assert status.deciding_rule == rule == WEEKLY.code
    assert status.gap_until is not None
    assert int(status.gap_until.timestamp() * 1000) == NOW - HOUR_MS + 7200 * 1000
    assert [r.rule.id for r in status.rules] == ["weekly", "phone", "sciences"]
    assert status.policy_version == 3


def test_a_contact_nobody_contacted_may_be_mailed_now() -> None:
    policy = PressurePolicy(version=0, rules=(WEEKLY,), min_gap_seconds=3600)
    status = contact_pressure("c1", policy, [], MAIL, NOW)
    assert status.next_allowed_at == status.as_of
    assert (status.deciding_rule, status.gap_until, status.last_counted_at) == ("", None, None)
    assert [(r.used, r.free) for r in status.rules] == [(0, 2)]
