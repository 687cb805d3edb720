"""The words of consent: channels, scopes, actions, events and decisions (plain Python)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    POST = "post"


class Action(StrEnum):
    GRANT = "grant"
    WITHDRAW = "withdraw"


class LegalBasis(StrEnum):
    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"


class Decision(StrEnum):
    CONSENT_GIVEN = "consent_given"
    LEGITIMATE_INTEREST = "legitimate_interest"
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Scope:
    """Where a consent applies: one component, or the whole grouping (component None)."""

    component: str | None = None

    @classmethod
    def grouping(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, component: str) -> Scope:
        return cls(component)

    @property
    def is_grouping(self) -> bool:
        return self.component is None

    @property
    def kind(self) -> str:
        return "grouping" if self.is_grouping else "component"


@dataclass(frozen=True)
class Change:
    """A validated request to grant or withdraw a consent."""

    contact_id: str
    channel: Channel
    purpose: str
    scope: Scope
    legal_basis: LegalBasis | None  # grants only
    source: str
    text_shown: str | None


@dataclass(frozen=True)
class ConsentEvent:
    """One appended record: who changed what, when, how, and what the person was shown."""

    seq: int  # the total order of events
    id: str
    contact_id: str
    channel: Channel
    purpose: str
    scope: Scope
    action: Action
    legal_basis: LegalBasis | None
    actor_subject: str
    actor_component: str | None
    source: str
    text_shown: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class Verdict:
    """May this contact be reached, why, and which event decided it (None: no event applies)."""

    allowed: bool
    decision: Decision
    deciding_event_id: str | None


@dataclass(frozen=True)
class BatchQuery:
    """A validated CheckBatch: one component, channel and purpose for many contacts."""

    component: str
    channel: Channel
    purpose: str
    contact_ids: list[str]
