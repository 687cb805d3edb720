"""The campaign lifecycle table: what moves where, and that nothing leaves done or cancelled."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protos.crm.campaigns.v1 import campaigns_pb2 as pb
from services.campaigns.lifecycle import (
    EDITABLE,
    FINAL,
    TRANSITIONS,
    Action,
    CampaignStatus,
    edit_refusal,
    refusal,
    sources,
    target,
)

S = CampaignStatus
actions = st.lists(st.sampled_from(list(Action)), max_size=40)


def test_the_table_is_the_documented_life() -> None:
    assert dict(TRANSITIONS) == {
        (S.DRAFT, Action.SCHEDULE): S.SCHEDULED,
        (S.SCHEDULED, Action.SCHEDULE): S.SCHEDULED,
        (S.SCHEDULED, Action.UNSCHEDULE): S.DRAFT,
        (S.DRAFT, Action.START): S.RUNNING,
        (S.SCHEDULED, Action.START): S.RUNNING,
        (S.RUNNING, Action.PAUSE): S.PAUSED,
        (S.PAUSED, Action.RESUME): S.RUNNING,
        (S.RUNNING, Action.FINISH): S.DONE,
        (S.DRAFT, Action.CANCEL): S.CANCELLED,
        (S.SCHEDULED, Action.CANCEL): S.CANCELLED,
        (S.RUNNING, Action.CANCEL): S.CANCELLED,
        (S.PAUSED, Action.CANCEL): S.CANCELLED,
    }


@given(actions)
def test_no_sequence_of_actions_ever_leaves_done_or_cancelled(sequence: list[Action]) -> None:
    status = S.DRAFT
    ended: CampaignStatus | None = None
    for action in sequence:
        moved = target(status, action)
        if ended is not None:
            assert moved is None
            assert refusal(status, action) is not None
        if moved is not None:
            status = moved
        if status in FINAL:
            ended = ended or status
    assert ended is None or status == ended


@given(actions)
def test_every_step_is_a_row_of_the_table_and_refused_otherwise(sequence: list[Action]) -> None:
    status = S.DRAFT
    for action in sequence:
        moved = target(status, action)
        reason = refusal(status, action)
        if (status, action) in TRANSITIONS:
            assert moved == TRANSITIONS[(status, action)] and reason is None
            assert status in sources(action)
            status = moved
        else:
            assert moved is None and status not in sources(action)
            assert reason is not None and reason.startswith(f"the campaign is {status.value};")


@given(st.lists(st.sampled_from(list(Action)), max_size=40))
def test_a_status_is_reached_only_through_the_table(sequence: list[Action]) -> None:
    reached = {S.DRAFT}
    status = S.DRAFT
    for action in sequence:
        moved = target(status, action)
        if moved is not None:
            assert moved in {to for (frm, _), to in TRANSITIONS.items() if frm == status}
            status = moved
            reached.add(status)
    # Everything reached is a draft or the target of some row of the table.
    assert reached <= {S.DRAFT} | set(TRANSITIONS.values())


def test_every_status_is_reachable_and_cancel_is_allowed_from_every_state_before_done() -> None:
    reachable = {S.DRAFT}
    frontier = [S.DRAFT]
    while frontier:
        status = frontier.pop()
        for action in Action:
            moved = target(status, action)
            if moved is not None and moved not in reachable:
                reachable.add(moved)
                frontier.append(moved)
    assert reachable == set(CampaignStatus)
    assert sources(Action.CANCEL) == set(CampaignStatus) - FINAL
    assert all(target(s, a) is None for s in FINAL for a in Action)


def test_only_drafts_and_scheduled_campaigns_are_edited() -> None:
    assert EDITABLE == {S.DRAFT, S.SCHEDULED}
    for status in CampaignStatus:
        assert (edit_refusal(status) is None) == (status in EDITABLE)


def test_each_status_has_its_grpc_value() -> None:
    for status in CampaignStatus:
        assert pb.CampaignStatus.Value(f"CAMPAIGN_STATUS_{status.name}") > 0
