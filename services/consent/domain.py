"""The words of consent: purposes, channels, scopes, events, bases and decisions (plain Python)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol

from meshkit.purposes import PURPOSE_KEY, PURPOSE_KEY_RULE, is_purpose_key

__all__ = ["PURPOSE_KEY", "PURPOSE_KEY_RULE", "is_purpose_key"]


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    POST = "post"


class EventKind(StrEnum):
    """What one consent event records; the only lifecycle of a consent."""

    GRANTED = "granted"  # the person said yes (maybe pending a confirmation)
    DENIED = "denied"  # the person said no when asked
    WITHDRAWN = "withdrawn"  # the person took a yes back
    OBJECTED = "objected"  # Art. 21: no direct marketing at all, grouping-wide
    EXPIRED = "expired"  # retention lapsed
    REVALIDATED = "revalidated"  # the person said yes again when asked to
    CONFIRMED = "confirmed"  # double opt-in: the person confirmed a pending grant


# Kinds after which the person may be reached (a pending grant waits for CONFIRMED).
POSITIVE = frozenset({EventKind.GRANTED, EventKind.REVALIDATED, EventKind.CONFIRMED})
# Kinds that carry the notice the person saw.
NOTICED = POSITIVE


class Action(StrEnum):
    """The two kinds the first API version named (ConsentEvent.action)."""

    GRANT = "grant"
    WITHDRAW = "withdraw"


class How(StrEnum):
    """How an event was collected."""

    WEB_FORM = "web_form"
    IMPORT = "import"
    ONE_CLICK = "one_click"
    PREFERENCE_PAGE = "preference_page"
    INBOUND_MAIL = "inbound_mail"
    PHONE_AGENT = "phone_agent"
    STAFF = "staff"
    REVALIDATION_JOB = "revalidation_job"
    RETENTION_JOB = "retention_job"


# Acts the person made themself: they carry the IP address and user agent seen.
PERSON_MADE = frozenset({How.WEB_FORM, How.ONE_CLICK, How.PREFERENCE_PAGE, How.INBOUND_MAIL})


class LegalBasis(StrEnum):
    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"


class ContactKind(StrEnum):
    """Who the basis rules speak of: a consumer, or a business at a professional address."""

    CONSUMER = "consumer"
    BUSINESS = "business"


class Decision(StrEnum):
    CONSENT_GIVEN = "consent_given"
    LEGITIMATE_INTEREST = "legitimate_interest"
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"
    DENIED = "denied"
    OBJECTED = "objected"
    EXPIRED = "expired"
    PENDING = "pending"  # granted, awaiting the person's confirmation
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    SUPPRESSED = "suppressed"  # the address is on the suppression list (objected or erased)


class Language(StrEnum):
    FR = "fr"
    EN = "en"


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
class Purpose:
    """One entry of the purposes catalogue."""

    key: str
    owner: str | None  # a component id; None: the grouping
    label_fr: str
    label_en: str
    channels: frozenset[Channel]
    marketing: bool = True  # direct marketing: an Art. 21 objection stops it
    retention_months: int = 36
    active: bool = True


@dataclass(frozen=True)
class BasisRule:
    """The legal basis a purpose relies on for one channel and kind of contact."""

    purpose: str
    channel: Channel
    contact_kind: ContactKind
    basis: LegalBasis


@dataclass(frozen=True)
class Notice:
    """One published version of the text shown for a purpose; never edited."""

    id: str
    purpose: str
    language: Language
    version: int
    text: str
    published_at: datetime
    published_by: str


@dataclass(frozen=True)
class Collection:
    """How an event came in: the channel of collection and, for the person's own acts,
    the IP address and user agent the gateway saw."""

    how: How
    source: str
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Change:
    """A validated request to record one event about a purpose (grant, deny, withdraw)."""

    contact_id: str
    channel: Channel
    purpose: str
    scope: Scope
    legal_basis: LegalBasis | None  # grants only
    collection: Collection
    text_shown: str | None = None
    notice_id: str | None = None
    pending: bool = False

    @property
    def source(self) -> str:
        return self.collection.source


@dataclass(frozen=True)
class Objection:
    """A validated Art. 21 objection: grouping-wide, every marketing purpose, one or all
    channels."""

    contact_id: str
    channel: Channel | None  # None: every channel
    collection: Collection


@dataclass(frozen=True)
class ConsentEvent:
    """One appended record: who recorded what, when, how, and which notice the person saw."""

    seq: int  # the total order of events
    id: str
    contact_id: str
    kind: EventKind
    channel: Channel | None  # None only for an objection to every channel
    purpose: str | None  # None only for an objection
    scope: Scope
    legal_basis: LegalBasis | None
    actor_subject: str
    actor_component: str | None
    source: str
    text_shown: str | None
    recorded_at: datetime
    how: How = How.STAFF
    notice_id: str | None = None
    pending: bool = False
    refers_to: str | None = None  # a confirmation: the pending grant it confirms
    ip: str | None = None
    user_agent: str | None = None

    @property
    def action(self) -> Action | None:
        """The first API version's word for grants and withdrawals."""
        return {EventKind.GRANTED: Action.GRANT, EventKind.WITHDRAWN: Action.WITHDRAW}.get(
            self.kind
        )


class EventFacts(Protocol):
    """What a verdict reads of an event: a ConsentEvent has it all, a BatchEvent only that."""

    @property
    def seq(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def contact_id(self) -> str: ...
    @property
    def kind(self) -> EventKind: ...
    @property
    def channel(self) -> Channel | None: ...
    @property
    def purpose(self) -> str | None: ...
    @property
    def scope(self) -> Scope: ...
    @property
    def legal_basis(self) -> LegalBasis | None: ...
    @property
    def pending(self) -> bool: ...
    @property
    def refers_to(self) -> str | None: ...


class BatchEvent(NamedTuple):
    """An event as the batched check loads it: only what a verdict reads (a tuple per row,
    as 10,000 checks may read as many events)."""

    seq: int
    id: str
    contact_id: str
    kind: EventKind
    channel: Channel | None
    purpose: str | None
    scope: Scope
    legal_basis: LegalBasis | None
    pending: bool
    refers_to: str | None


@dataclass(frozen=True)
class Verdict:
    """May this contact be reached, why, on which basis, and which event decided it."""

    allowed: bool
    decision: Decision
    deciding_event_id: str | None  # None: no event applies (the basis rule decided)
    basis: LegalBasis | None = None


@dataclass(frozen=True)
class Question:
    """What a verdict is asked about: a purpose on a channel, as seen by one scope."""

    purpose: str
    channel: Channel
    component: str | None  # None: the grouping-wide view (grouping events only)
    marketing: bool = True
    basis: LegalBasis = LegalBasis.CONSENT  # what the basis rule says with no event


@dataclass(frozen=True)
class CheckItem:
    """One recipient of a batched check."""

    contact_id: str
    address: str = ""  # the address the mail would go to: read against the suppression list
    professional_address: bool = False


@dataclass(frozen=True)
class BatchQuery:
    """A validated CheckBatch: one component, channel and purpose for many recipients."""

    component: str
    channel: Channel
    purpose: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def contact_ids(self) -> list[str]:
        return [item.contact_id for item in self.items]


@dataclass(frozen=True)
class StateEntry:
    """The state of one purpose x channel x scope for one contact, at some time."""

    purpose: str
    channel: Channel
    scope: Scope
    verdict: Verdict
