"""Request and response models of the pressure policy (pydantic v2), for pressure.py.

The request states what the schema can of the campaigns service's rules
(services/campaigns/pressure_policy.py: id patterns, ranges, counts, time and
date forms), imported from there, never re-typed; what needs the organisation
tree or the zone database (a component that exists, a known time zone, a real
calendar date) stays with the service, whose field paths are the same
(`rules[2].window_seconds`, `quiet_dates[0].end`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from meshkit.purposes import PURPOSE_KEY
from services.campaigns import pressure_policy as policy_rules
from services.gateway.responses import Timestamp
from services.gateway.schemas import INT32_MAX, ComponentId, WholeNumber, anchored

ScopeWord = Literal["grouping", "component", "purpose", "channel"]
RuleId = Annotated[
    str,
    Field(
        pattern=anchored(policy_rules.RULE_ID),
        description="1 to 63 of a-z, 0-9, `_` and `-`, starting with a letter or digit; "
        "unique in the policy, e.g. `grouping-weekly`.",
    ),
]
HhMm = Annotated[
    str,
    Field(pattern="^(?:[01][0-9]|2[0-3]):[0-5][0-9]$", description="Local time `HH:MM`."),
]
IsoDate = Annotated[
    str,
    # `format: date` too: the pattern alone admits 2025-02-30, which campaigns refuses.
    Field(
        pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        description="A date `YYYY-MM-DD`.",
        json_schema_extra={"format": "date"},
    ),
]
# What a scope value may be, whatever the scope (the service checks it against the scope).
_SCOPE_VALUE = f"^(?:|{PURPOSE_KEY.pattern})$"

POLICY_EXAMPLE: dict[str, Any] = {
    "rules": [
        {
            "id": "grouping-weekly",
            "scope": "grouping",
            "scope_value": "",
            "max_messages": 3,
            "window_seconds": 604800,
        },
        {
            "id": "sciences-monthly",
            "scope": "component",
            "scope_value": "sciences",
            "max_messages": 2,
            "window_seconds": 2592000,
        },
        {
            "id": "fundraising-quarter",
            "scope": "purpose",
            "scope_value": "fundraising",
            "max_messages": 1,
            "window_seconds": 7776000,
        },
        {
            "id": "phone-weekly",
            "scope": "channel",
            "scope_value": "phone",
            "max_messages": 1,
            "window_seconds": 604800,
        },
    ],
    "min_gap_seconds": 86400,
    "quiet_hours": {"start": "20:00", "end": "08:30"},
    "quiet_dates": [
        {
            "id": "exams-june-2025",
            "component": "sciences",
            "start": "2025-06-02",
            "end": "2025-06-20",
            "label": "Examens de juin",
        },
        {"id": "winter-2025", "component": "", "start": "2025-12-22", "end": "2026-01-02"},
    ],
    "default_time_zone": "Europe/Paris",
}


def _closed(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [example]})


class PressureRuleInput(BaseModel):
    """At most `max_messages` messages to one person over any rolling `window_seconds`."""

    model_config = _closed(POLICY_EXAMPLE["rules"][0])

    id: RuleId
    scope: ScopeWord = Field(
        description="`grouping`: every message to the person; `component`: one component's; "
        "`purpose`: one purpose's; `channel`: one channel's."
    )
    scope_value: str = Field(
        "",
        max_length=64,
        pattern=_SCOPE_VALUE,
        description="Empty for `grouping`; else a component id, a purpose key or a channel "
        f"({', '.join(policy_rules.CHANNELS)}).",
    )
    max_messages: WholeNumber = Field(ge=policy_rules.MIN_MESSAGES, le=policy_rules.MAX_MESSAGES)
    window_seconds: WholeNumber = Field(
        ge=policy_rules.MIN_WINDOW_SECONDS,
        le=policy_rules.MAX_WINDOW_SECONDS,
        description="60 seconds to 366 days, e.g. 604800 (7 days).",
    )


class QuietHoursInput(BaseModel):
    """No message between `start` and `end`, in the contact's own time zone (may wrap midnight)."""

    model_config = _closed(POLICY_EXAMPLE["quiet_hours"])

    start: HhMm
    end: HhMm = Field(description="Local time `HH:MM`, not equal to `start`.")


class QuietDatesInput(BaseModel):
    """No message from `component` (empty: any) from `start` to `end`, inclusive."""

    model_config = _closed(POLICY_EXAMPLE["quiet_dates"][0])

    id: RuleId
    component: str = Field("", max_length=64, description="A component id, or empty for all.")
    start: IsoDate
    end: IsoDate = Field(description="`YYYY-MM-DD`, not before `start`, at most 2 years after.")
    label: str = Field("", max_length=policy_rules.MAX_LABEL, pattern="^[^\\x00-\\x1f\\x7f]*$")


class PressurePolicyChange(BaseModel):
    """The whole new policy, with the version it was written from (optimistic concurrency)."""

    model_config = _closed({**POLICY_EXAMPLE, "note": "Exam period", "expected_version": 3})

    rules: list[PressureRuleInput] = Field(max_length=policy_rules.MAX_RULES)
    min_gap_seconds: WholeNumber = Field(
        0,
        ge=0,
        le=policy_rules.MAX_GAP_SECONDS,
        description="Least time between any two messages to one person (0 to 30 days).",
    )
    quiet_hours: QuietHoursInput | None = Field(None, description="Absent: no quiet hours.")
    quiet_dates: list[QuietDatesInput] = Field(
        default_factory=list, max_length=policy_rules.MAX_QUIET_DATES
    )
    default_time_zone: str = Field(
        policy_rules.DEFAULT_TIME_ZONE,
        min_length=1,
        max_length=64,
        description="IANA zone for a contact whose zone is unknown, e.g. `Europe/Paris`.",
    )
    note: str = Field("", max_length=policy_rules.MAX_NOTE, description="Why, kept in the history.")
    expected_version: WholeNumber | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="The version this change was written from (the ETag of GET "
        "/v1/pressure-policy); or send it as `If-Match`. One of the two is required (428); "
        "a version no longer in force is a 409.",
    )


class PressurePolicyAt(BaseModel):
    """Which version to read; every query value arrives as text, hence lax types."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(
        None,
        description="RFC 3339 with an offset: the version in force at that instant (absent: now).",
    )


# --- responses --------------------------------------------------------------------------------


class PressureRule(BaseModel):
    id: str
    scope: ScopeWord
    scope_value: str
    max_messages: int
    window_seconds: int


class QuietHours(BaseModel):
    start: str
    end: str


class QuietDates(BaseModel):
    id: str
    component: str
    start: str
    end: str
    label: str


class PressurePolicyVersion(BaseModel):
    """One version of the grouping's pressure policy."""

    version: int = Field(description="0: the settings' default, before any change.")
    rules: list[PressureRule]
    min_gap_seconds: int
    quiet_hours: QuietHours | None = None
    quiet_dates: list[QuietDates]
    default_time_zone: str
    changed_by: str | None = Field(None, description="The admin who wrote it.")
    changed_at: Timestamp | None = None
    note: str | None = None


class PressurePolicyVersionList(BaseModel):
    versions: list[PressurePolicyVersion] = Field(description="Newest first.")
    next_page_token: str


# --- the pressure dashboard (pressure_dashboard.py) -------------------------------------------


class PressureDashboardQuery(BaseModel):
    """Which month and view; every query value arrives as text."""

    model_config = ConfigDict(extra="forbid")

    month: str | None = Field(
        None,
        pattern="^[0-9]{4}-(?:0[1-9]|1[0-2])$",
        description="`YYYY-MM` (UTC); absent: the current month.",
    )
    component: ComponentId | None = Field(
        None, description="One component's view; absent: the whole grouping."
    )
    format: Literal["json", "csv"] | None = Field(
        None, description="`csv` for a CSV file (as `Accept: text/csv` asks); absent: JSON."
    )


class PressureFigure(BaseModel):
    series: Literal[
        "contacts_reached",
        "messages_per_week",
        "messages_per_month",
        "at_cap",
        "deferrals",
        "unsubscribes",
        "objections",
    ] = Field(description="What is counted (docs/pressure-dashboard.md).")
    component: str = Field(description="Empty: every component together.")
    purpose: str = Field(description="Empty: every purpose together.")
    bucket: str = Field(
        description="A distribution's bucket (`1` to `9`, `10+`); empty: the distribution's "
        "total, or a series without buckets."
    )
    published: bool
    value: int | None = Field(None, description="Absent when the figure is not published.")
    reason: (
        Literal["too_few_contacts", "too_few_components", "dominated", "complementary"] | None
    ) = Field(None, description="Why a figure is not published; absent when it is.")


class PressureDashboard(BaseModel):
    """One month of marketing pressure, every figure under the disclosure rules."""

    month: str
    component: str = Field(description="Empty: the grouping's view.")
    k: int = Field(description="The least contacts behind a published figure.")
    p: int = Field(description="Percent: no contact nor component weighs more in one.")
    computed_at: Timestamp | None = Field(
        None, description="When the pre-aggregates were last brought up to date (absent: never)."
    )
    figures: list[PressureFigure]
