"""A campaign's life, as one table: which action moves it from which status to which.

    draft ──schedule──▶ scheduled ──start──▶ running ──pause──▶ paused
      ▲  ◀─unschedule──     │                 │  ◀──resume──      │
      │                     │                 └──finish──▶ done   │
      └─ start (send now) ──┼──▶ running                          │
    cancel: from draft, scheduled, running or paused ──▶ cancelled

done and cancelled are final: no action leaves them. Plain Python (no SQL, no
gRPC): the service asks `refusal` before it changes a campaign, and makes the
change with a conditional UPDATE on the statuses `sources` names, so two
concurrent actions cannot both win. The ledger hands out rows of running
campaigns only, and closes a running campaign when its last row is decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class CampaignStatus(StrEnum):
    """Where a campaign is in its life; stored as this word in `campaigns.status`."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"  # a start is planned at send_at
    RUNNING = "running"  # its ledger rows are handed out to dispatch workers
    PAUSED = "paused"  # no row is handed out until it resumes
    DONE = "done"  # every recipient has its final outcome
    CANCELLED = "cancelled"  # stopped for good; rows not yet in flight became `cancelled`


class Action(StrEnum):
    """What moves a campaign; the manager's own, but for `finish` (the ledger's)."""

    SCHEDULE = "schedule"
    UNSCHEDULE = "unschedule"
    START = "start"  # send now, or the scheduler's start at send_at
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    FINISH = "finish"  # the ledger: no row left to send


S = CampaignStatus
TRANSITIONS: Mapping[tuple[CampaignStatus, Action], CampaignStatus] = MappingProxyType(
    {
        (S.DRAFT, Action.SCHEDULE): S.SCHEDULED,
        # Scheduling again moves the planned time.
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
)

FINAL = frozenset({S.DONE, S.CANCELLED})
# Content, audience and options may change only before the first mail can leave.
EDITABLE = frozenset({S.DRAFT, S.SCHEDULED})
# A test send shows the mail as it will be: only while it can still be edited.
TESTABLE = EDITABLE

_WHY_NOT = {
    Action.SCHEDULE: "only a draft or scheduled campaign can be scheduled",
    Action.UNSCHEDULE: "only a scheduled campaign can be unscheduled",
    Action.START: "only a draft or scheduled campaign can be started",
    Action.PAUSE: "only a running campaign can be paused",
    Action.RESUME: "only a paused campaign can be resumed",
    Action.CANCEL: "a done or cancelled campaign cannot be cancelled",
    Action.FINISH: "only a running campaign can finish",
}


def target(status: CampaignStatus, action: Action) -> CampaignStatus | None:
    """The status `action` leads to from `status`; None when the table has no such move."""
    return TRANSITIONS.get((status, action))


def refusal(status: CampaignStatus, action: Action) -> str | None:
    """Why `action` is not allowed on a campaign in `status` (None: it is).

    The reason names the statuses only, never anything about the campaign's content.
    """
    if target(status, action) is not None:
        return None
    return f"the campaign is {status.value}; {_WHY_NOT[action]}"


def sources(action: Action) -> frozenset[CampaignStatus]:
    """Every status `action` may start from: the WHERE of its conditional UPDATE."""
    return frozenset(status for status, taken in TRANSITIONS if taken is action)


def edit_refusal(status: CampaignStatus) -> str | None:
    """Why the campaign's content may not change now (None: it may)."""
    if status in EDITABLE:
        return None
    return f"the campaign is {status.value}; only a draft or scheduled campaign can be edited"


def test_send_refusal(status: CampaignStatus) -> str | None:
    """Why a test send of the campaign is refused now (None: it is allowed)."""
    if status in TESTABLE:
        return None
    return f"the campaign is {status.value}; only a draft or scheduled campaign has test sends"
