"""The rules of a contact's interaction history, in plain Python (no gRPC, SQL or Redis).

The history answers "who contacted this person this month?": the mailings of
the ledger merged with the interactions staff and services record (a phone
call, a meeting, an event attended, an SMS sent elsewhere), newest first.

- **Who reads it**: every component that is a member of the contact sees every
  entry, whoever made it: when, which component, for what purpose, on which
  channel, the campaign's name, the outcome. Any other component is told the
  contact does not exist.
- **What stays with its author**: the subject and content of an entry (for a
  mailing, its campaign's subject template; for an interaction, its subject,
  content and the person who recorded it) are shown to the component that
  made it alone. Others see the entry with those fields empty and
  `content_hidden` set: the flag depends on the reader, never on whether there
  is anything to hide, so it tells nothing about the author's notes.
- **Who sees everything**: administrators, the mesh's own services, and the
  grouping's data-protection officer (the `dpo` role with no component): the
  DPO answers a person's questions and complaints about being contacted, and
  an access request hands the person all of it anyway. A DPO acting for a
  component reads as that component's staff.
- **Who records**: staff of a member component with the `contact_editor`
  role, for their own component; a mesh service, naming the component it
  records for. Who recorded and how (`staff` or `service:<name>`) come from
  the token, never from the request.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import islice

from meshkit import page_tokens
from meshkit.errors import PermissionDenied, Violations, invalid
from meshkit.fields import COMPONENT_ID
from meshkit.identity import Principal
from meshkit.purposes import PURPOSE_KEY_RULE, is_purpose_key
from meshkit.roles import Role
from services.campaigns.pressure_policy import CHANNELS

NUL = "\x00"
MAX_CONTACT_ID = 64
MAX_SUBJECT = 300
MAX_CONTENT = 10_000
MAX_IDEMPOTENCY_KEY = 200
DEFAULT_PAGE = 50
MAX_PAGE = 500
HISTORY_LIST = "contacts.interactions"
# How far ahead of the server's clock an interaction may be dated (clocks drift).
FUTURE_SKEW = timedelta(minutes=5)
SOURCE_STAFF = "staff"
_KEY = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class EntryKind(StrEnum):
    MAILING = "mailing"  # a row of the delivery ledger (sent or unconfirmed)
    INTERACTION = "interaction"  # a recorded interaction


@dataclass(frozen=True)
class NewInteraction:
    """An interaction as its recorder asked for it."""

    contact_id: str
    channel: str
    component_id: str = ""  # staff: their own (the default); a service must name it
    purpose: str = ""
    occurred_at: datetime | None = None  # None: now
    subject: str = ""
    content: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class Recorder:
    """Who records an interaction, from the token: for which component, who, and how."""

    component: str
    subject: str
    source: str  # "staff" or "service:<name>"


@dataclass(frozen=True)
class Reader:
    """Who reads a history: `component` None means every entry in full."""

    component: str | None

    @property
    def sees_all(self) -> bool:
        return self.component is None


@dataclass(frozen=True)
class Entry:
    """One line of a contact's history, as stored (`author` decides who sees its content)."""

    kind: EntryKind
    id: str  # "d:<ledger id>" or "i:<interaction id>": unique, and part of the page order
    contact_id: str  # the id the row names (the contact's, or an id merged into it)
    at: datetime
    component: str  # who contacted the person: a component, or a transactional sender
    channel: str
    purpose: str = ""
    campaign_id: str = ""
    campaign_name: str = ""
    message_class: str = ""  # mailings: marketing or transactional
    transactional_kind: str = ""
    outcome: str = ""  # mailings: sent or unconfirmed
    source: str = ""  # interactions: staff or service:<name>
    recorded_by: str = ""  # interactions: the recorder's subject (with the content)
    recorded_at: datetime | None = None
    subject: str = ""
    content: str = ""
    content_hidden: bool = False
    author: str = ""  # the component whose entry it is ("" for transactional mail: nobody)


def recorder_of(principal: Principal, asked_component: str) -> Recorder:
    """Who records, before any input is read; PermissionDenied for anyone else.

    Staff need `contact_editor` and record for their own component only; a
    service records for the component it names (checked with the input).
    """
    if principal.is_service:
        return Recorder(asked_component, principal.subject, principal.subject)
    component = principal.require_component()
    principal.require_role(Role.CONTACT_EDITOR)
    if asked_component and asked_component != component:
        raise PermissionDenied("component_id: staff record for their own component only")
    return Recorder(component, principal.subject, SOURCE_STAFF)


def reader_of(principal: Principal) -> Reader:
    """How much of a history the caller reads (see the module's docstring)."""
    if principal.is_admin or principal.is_service:
        return Reader(None)
    if principal.has_role(Role.DPO) and not principal.component:
        return Reader(None)
    return Reader(principal.require_component())


def may_read(reader: Reader, member_components: Iterable[str]) -> bool:
    """Whether the reader may know the contact exists (and read its history)."""
    return reader.sees_all or reader.component in set(member_components)


def may_see_content(reader: Reader, entry: Entry) -> bool:
    """The subject and content of an entry: its author's alone (and those who see all)."""
    return reader.sees_all or (bool(entry.author) and entry.author == reader.component)


def visible(entry: Entry, reader: Reader) -> Entry:
    """The entry as the reader may see it: without subject, content and recorder otherwise."""
    if may_see_content(reader, entry):
        return replace(entry, content_hidden=False)
    return replace(entry, subject="", content="", recorded_by="", content_hidden=True)


def validated_interaction(new: NewInteraction, recorder: Recorder, now: datetime) -> NewInteraction:
    """The interaction with its time set; InvalidArgument naming every bad field.

    Descriptions never quote a value: a subject or a note is personal data.
    """
    problems = Violations()
    if not new.contact_id or len(new.contact_id) > MAX_CONTACT_ID or NUL in new.contact_id:
        problems.add("contact_id", f"must be 1 to {MAX_CONTACT_ID} characters, without NUL")
    if new.channel not in CHANNELS:
        problems.add("channel", f"must be one of {', '.join(CHANNELS)}")
    if not recorder.component:
        problems.add("component_id", "is required for a service: the component it records for")
    elif not COMPONENT_ID.fullmatch(recorder.component):
        problems.add("component_id", "must be a component id: 2 to 40 characters a-z, 0-9, -")
    if new.purpose and not is_purpose_key(new.purpose):
        problems.add("purpose", f"must be {PURPOSE_KEY_RULE}")
    if len(new.subject) > MAX_SUBJECT or _breaks_line(new.subject):
        problems.add("subject", f"must be at most {MAX_SUBJECT} characters on one line")
    if len(new.content) > MAX_CONTENT or NUL in new.content:
        problems.add("content", f"must be at most {MAX_CONTENT} characters, without NUL")
    if new.idempotency_key and not _KEY.fullmatch(new.idempotency_key):
        problems.add(
            "idempotency_key",
            f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, without spaces",
        )
    occurred_at = new.occurred_at if new.occurred_at is not None else now
    if occurred_at.tzinfo is None:
        problems.add("occurred_at", "must carry a time zone")
    elif occurred_at > now + FUTURE_SKEW:
        problems.add("occurred_at", "must not be in the future")
    elif occurred_at < _EARLIEST:
        problems.add("occurred_at", "must be after 1970-01-01T00:00:00Z")
    problems.raise_if_any()
    return replace(
        new,
        component_id=recorder.component,
        occurred_at=occurred_at.astimezone(UTC),
        subject=new.subject.strip(),
    )


def same_request(new: NewInteraction, stored: Entry, time_given: bool) -> bool:
    """Whether a repeat of an idempotency key asks for the interaction first recorded.

    The time is compared only when the repeat gives one (an omitted time is "now").
    """
    same = (
        new.contact_id,
        new.channel,
        new.purpose,
        new.subject,
        new.content,
    ) == (stored.contact_id, stored.channel, stored.purpose, stored.subject, stored.content)
    return same and (not time_given or new.occurred_at == stored.at)


def _breaks_line(text: str) -> bool:
    return any(c in text for c in "\r\n\x00") or len(text.splitlines()) > 1


# --- Periods and pages ------------------------------------------------------------------------


def check_period(since: datetime | None, until: datetime | None) -> None:
    """`since` (inclusive) must come before `until` (exclusive) when both are given."""
    if since is not None and until is not None and since >= until:
        raise invalid("until", "must be after since")


def page_size(asked: int) -> int:
    """The page size to use; 0 is the default, more than the maximum is the maximum."""
    return page_tokens.page_size(asked, DEFAULT_PAGE, MAX_PAGE)


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last entry's time and id (the page order is total)."""

    at: datetime
    id: str


def order_key(at: datetime, entry_id: str) -> tuple[datetime, int, int | str]:
    """The history's order, newest first when descending: time, then kind, then id.

    At one instant interactions come before mailings, and within a kind the
    higher id first (ledger ids numerically, interaction ids as text).
    """
    kind, _, value = entry_id.partition(":")
    if kind == "d":
        return (at, 0, int(value))
    return (at, 1, value)


def before(entry: Entry, position: Position | None) -> bool:
    """Whether the entry comes after `position` in the newest-first order."""
    if position is None:
        return True
    return order_key(entry.at, entry.id) < order_key(position.at, position.id)


def newest_first(
    streams: Iterable[Iterable[Entry]], size: int
) -> tuple[list[Entry], Position | None]:
    """The first `size` entries of streams each already newest first, and where to go on.

    The position is None when nothing is left after the page.
    """
    merged = heapq.merge(*streams, key=lambda e: order_key(e.at, e.id), reverse=True)
    taken = list(islice(merged, size + 1))
    if len(taken) <= size:
        return taken, None
    last = taken[size - 1]
    return taken[:size], Position(last.at, last.id)


def encode_token(contact_id: str, position: Position) -> str:
    """The token of the page after `position` in this contact's history."""
    return page_tokens.encode(HISTORY_LIST, (position.at, position.id), contact_id)


def decode_token(token: str, contact_id: str) -> Position | None:
    """The position a token names; InvalidArgument when it is not one of this contact's."""
    position = page_tokens.after_time_and_id(token, HISTORY_LIST, contact_id)
    if position is None:
        return None
    at, entry_id = position
    if not _ENTRY_ID.fullmatch(entry_id):
        raise page_tokens.refused()
    return Position(at.astimezone(UTC), entry_id)


_ENTRY_ID = re.compile(r"d:[0-9]{1,19}|i:[0-9a-f-]{36}")
