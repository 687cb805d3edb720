"""What the interaction history routes accept and answer (pydantic v2), beside schemas.py.

The rules are the campaigns service's own (interactions_policy.py), imported,
never re-typed; what a schema cannot state (an interaction dated in the
future, who is a member of the contact) stays with the service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from services.campaigns import interactions_policy as rules
from services.campaigns.pressure_policy import CHANNELS
from services.gateway.responses import Timestamp
from services.gateway.schemas import Page, Purpose


def _in_range(value: datetime) -> datetime:
    """`value` in UTC; out of the range a timestamp holds: a 400 naming the field."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range", "must be between year 1 and year 9999 in UTC"
        ) from None


Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
Channel = Annotated[
    str,
    Field(
        pattern=f"^(?:{'|'.join(CHANNELS)})$",
        description=f"One of {', '.join(f'`{c}`' for c in CHANNELS)}.",
    ),
]


class InteractionsQuery(Page):
    """Which part of the history to list; every query value arrives as text, hence lax types."""

    since: Moment | None = Field(
        None, description="RFC 3339 with its offset, inclusive (e.g. the first of the month)."
    )
    until: Moment | None = Field(None, description="RFC 3339 with its offset, exclusive.")


class NewInteraction(BaseModel):
    """A contact made outside the mailings, recorded for the caller's component."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "channel": "phone",
                    "purpose": "alumni",
                    "occurred_at": "2025-03-04T10:30:00+01:00",
                    "subject": "Appel de suivi",
                    "content": "Intéressée par le gala des diplômés.",
                    "idempotency_key": "crm-call-4812",
                }
            ]
        },
    )

    channel: Channel
    purpose: Purpose | None = Field(None, description="The purpose key it served, if any.")
    occurred_at: Moment | None = Field(
        None,
        description="RFC 3339 with its offset; absent: now. Not in the future (a 400).",
        json_schema_extra={"format": "date-time"},
    )
    subject: str = Field(
        "",
        max_length=rules.MAX_SUBJECT,
        pattern="^[^\\r\\n\\x00]*$",
        description=f"At most {rules.MAX_SUBJECT} characters on one line; seen by the caller's "
        "component alone.",
    )
    content: str = Field(
        "",
        max_length=rules.MAX_CONTENT,
        pattern="^[^\\x00]*$",
        description=f"Notes, at most {rules.MAX_CONTENT} characters; seen by the caller's "
        "component alone.",
    )
    idempotency_key: str | None = Field(
        None,
        pattern="^[\\x21-\\x7e]{1,200}$",
        description="1 to 200 printable ASCII characters without spaces: a repeat returns the "
        "first record (200) and writes nothing. No personal data in it.",
    )


# --- Answers -------------------------------------------------------------------------------------


class InteractionEntry(BaseModel):
    """One line of a contact's history; what the caller may not see is absent."""

    id: str = Field(description="`d:<n>` for a mailing, `i:<uuid>` for a recorded interaction.")
    kind: Literal["mailing", "interaction"]
    contact_id: str = Field(description="The id the row names (this one or one merged into it).")
    occurred_at: Timestamp
    component: str = Field(
        description="Who contacted the person: a component, or a transactional mail's sender."
    )
    channel: str
    purpose: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    message_class: str | None = Field(None, description="Mailings: marketing or transactional.")
    transactional_kind: str | None = None
    outcome: str | None = Field(None, description="Mailings: sent or unconfirmed.")
    source: str | None = Field(None, description="Interactions: staff or service:<name>.")
    recorded_by: str | None = Field(None, description="Interactions, with the content.")
    recorded_at: Timestamp | None = None
    subject: str | None = Field(
        None, description="Mailings: the campaign's subject template; interactions: as recorded."
    )
    content: str | None = None
    content_hidden: bool = Field(
        description="True when subject, content and recorded_by belong to another component."
    )


class InteractionList(BaseModel):
    entries: list[InteractionEntry] = Field(description="Newest first.")
    next_page_token: str = Field(description="Empty on the last page.")


class RecordedInteraction(BaseModel):
    interaction: InteractionEntry
    replayed: bool = Field(description="The key was known: nothing was written.")
