"""The pressure dashboard's pre-aggregates: small histograms per month, recomputed from the ledger.

The dashboard never reads the ledger: it reads `campaigns_pressure_cells` (one row per
month, series, component, purpose and bucket) and, for the figures that add several
components, `campaigns_pressure_cell_components` (what each component brings). Counts
only: no contact id is stored there.

How they are kept (docs/pressure-dashboard.md): a job of the leader scheduler
(`PressureRollups.refresh`) first pulls consent's new withdrawals and objections and
attributes each one to the last marketing mail the person received within the
attribution window (CAMPAIGNS_PRESSURE_ATTRIBUTION_DAYS, 7 by default), then
*recomputes* whole months: the current one, any month not yet computed once after it
became final (`final_at`: the end of the month and of its last ISO week, plus a day for
the sends still landing), the ones never computed, and the ones marked dirty (a merge,
an erasure, a late event). A month is recomputed in one transaction (delete its cells,
insert the new ones, stamp `computed_at`): running twice gives the same cells, and a
failure leaves the last ones.

Per person (the survivor of merged ids; erased rows, which name nobody, are left out):

- the marketing mails sent (or unconfirmed) in the month, by sending component and
  purpose: `contacts_reached` and `messages_per_month` (contacts by bucket 1..9, 10+);
- per ISO week, the weeks belonging to the month (the month of their Thursday):
  `messages_per_week` (contact-weeks by bucket);
- the mails held back by the pressure rules dated in the month (`deferred_until`, or
  `decided_at` of a capped one): `deferrals` (messages deferred at least once), and
  `at_cap` (contacts with a mail capped, or deferred by any rule other than a quiet
  period);
- the attributed withdrawals and objections of the month: `unsubscribes`, `objections`
  (contacts).

Each figure is computed for every (component, purpose), every component over all
purposes (purpose ''), every purpose over all components (component '') and the whole
(both ''), each from the person's own messages: a margin is not the sum of its cells.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.db import Database
from services.campaigns.models import (
    Campaign,
    ContactAlias,
    Delivery,
    PressureCell,
    PressureCellComponent,
    PressureCursor,
    PressureMonth,
    PressureResponse,
)
from services.campaigns.policy import COUNTED_BY_PRESSURE, MessageClass, Outcome
from services.campaigns.repository import ERASED_PREFIX

log = logging.getLogger(__name__)

ALL = ""  # every component, or every purpose, together; no bucket
CONTACTS_REACHED = "contacts_reached"
MESSAGES_PER_WEEK = "messages_per_week"
MESSAGES_PER_MONTH = "messages_per_month"
AT_CAP = "at_cap"
DEFERRALS = "deferrals"
UNSUBSCRIBES = "unsubscribes"
OBJECTIONS = "objections"
SERIES = (
    CONTACTS_REACHED,
    MESSAGES_PER_WEEK,
    MESSAGES_PER_MONTH,
    AT_CAP,
    DEFERRALS,
    UNSUBSCRIBES,
    OBJECTIONS,
)
DISTRIBUTIONS = frozenset({MESSAGES_PER_WEEK, MESSAGES_PER_MONTH})
BUCKETS = (*(str(n) for n in range(1, 10)), "10+")
RESPONSE_SERIES = {"withdrawn": UNSUBSCRIBES, "objected": OBJECTIONS}
CONSENT_FEED = "consent"
# Consent's ids grow with recording, but two writers may commit out of order: each pull
# re-reads this many ids before its cursor and keeps only the events it has not seen.
FEED_OVERLAP = 500
FEED_PAGE = 1000
_STREAM = 20000  # rows fetched at a time when a month is recomputed

CellKey = tuple[str, str, str, str]  # series, component, purpose, bucket
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def bucket_of(messages: int) -> str:
    """The bucket of a count of messages: "1" to "9", then "10+"."""
    return str(messages) if messages < 10 else "10+"


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC."""
    year, number = int(month[:4]), int(month[5:7])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    return month_of(start - timedelta(days=1))


# After the end of a month and of its last week, how long its sends may still be landing
# (a batch claimed before the end, sent after it): then the month no longer changes but by
# a merge, an erasure or a late event, which mark it dirty.
SETTLING = timedelta(days=1)


def final_at(month: str) -> datetime:
    """When nothing but a dirty mark can change the month's figures any more."""
    return max(month_bounds(month)[1], weeks_span(month)[1]) + SETTLING


def week_month(moment: datetime) -> tuple[str, str]:
    """The ISO week of `moment` ("2026-W05") and the month it belongs to (its Thursday's)."""
    day = moment.astimezone(UTC).date()
    year, week, weekday = day.isocalendar()
    thursday = day + timedelta(days=4 - weekday)
    return f"{year}-W{week:02d}", thursday.strftime("%Y-%m")


def weeks_span(month: str) -> tuple[datetime, datetime]:
    """From the Monday of the first week belonging to the month to the end of its last week."""
    start, end = month_bounds(month)
    first: date = start.date()
    # the first Thursday in the month, then back to its Monday
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    last: date = end.date() - timedelta(days=1)
    last_thursday = last - timedelta(days=(last.weekday() - 3) % 7)
    monday = first_thursday - timedelta(days=3)
    next_monday = last_thursday + timedelta(days=4)
    return (
        datetime(monday.year, monday.month, monday.day, tzinfo=UTC),
        datetime(next_monday.year, next_monday.month, next_monday.day, tzinfo=UTC),
    )


def _projections(component: str, purpose: str) -> tuple[tuple[str, str], ...]:
    return ((component, purpose), (component, ALL), (ALL, purpose), (ALL, ALL))


# --- Accumulating one month ------------------------------------------------------------------


@dataclass
class _Cell:
    units: int = 0
    contacts: int = 0
    top_units: int = 0
    components: dict[str, list[int]] = field(default_factory=dict)  # contributor: [units, n]


class _Person:
    """One person's part of the month: units per cell, and per contributing component."""

    def __init__(self) -> None:
        self.units: dict[CellKey, int] = {}
        self.by_component: dict[CellKey, dict[str, int]] = {}

    def count(self, series: str, component: str, purpose: str, bucket: str, units: int) -> None:
        for c, p in _projections(component, purpose):
            key = (series, c, p, bucket)
            self.units[key] = self.units.get(key, 0) + units
            if c == ALL:
                shares = self.by_component.setdefault(key, {})
                shares[component] = shares.get(component, 0) + units

    def reached(self, series: str, component: str, purpose: str, messages: int = 1) -> None:
        """A contact counted once per cell, whatever how many rows brought it there; each
        component's share of a figure of several is the messages it sent them."""
        for c, p in _projections(component, purpose):
            key = (series, c, p, ALL)
            self.units[key] = 1
            if c == ALL:
                shares = self.by_component.setdefault(key, {})
                shares[component] = shares.get(component, 0) + messages


class MonthFigures:
    """The cells of one month, accumulated person by person."""

    def __init__(self) -> None:
        self.cells: dict[CellKey, _Cell] = {}

    def add(self, person: _Person) -> None:
        for key, units in person.units.items():
            cell = self.cells.get(key)
            if cell is None:
                cell = self.cells[key] = _Cell()
            cell.units += units
            cell.contacts += 1
            cell.top_units = max(cell.top_units, units)
            for component, share in person.by_component.get(key, {}).items():
                part = cell.components.setdefault(component, [0, 0])
                part[0] += share
                part[1] += 1


@dataclass(frozen=True)
class Sent:
    component: str
    purpose: str
    at: datetime


@dataclass(frozen=True)
class HeldBack:
    component: str
    purpose: str
    deferred: bool  # deferred at least once (else: capped)
    rule: str
    at: datetime


@dataclass(frozen=True)
class Response:
    kind: str  # withdrawn | objected
    component: str
    purpose: str


def person_figures(
    month: str, sent: Sequence[Sent], held: Sequence[HeldBack], responses: Sequence[Response]
) -> _Person:
    """One person's contribution to the month's cells (pure: the unit tests call it)."""
    person = _Person()
    in_month: dict[tuple[str, str], int] = {}
    weeks: dict[str, dict[tuple[str, str], int]] = {}
    for mail in sent:
        pair = (mail.component, mail.purpose)
        if month_of(mail.at) == month:
            in_month[pair] = in_month.get(pair, 0) + 1
        week, owner = week_month(mail.at)
        if owner == month:
            per_week = weeks.setdefault(week, {})
            per_week[pair] = per_week.get(pair, 0) + 1
    if in_month:
        for pair, n in in_month.items():
            person.reached(CONTACTS_REACHED, *pair, messages=n)
        _distribution(person, MESSAGES_PER_MONTH, in_month)
    for per_week in weeks.values():
        _distribution(person, MESSAGES_PER_WEEK, per_week)
    for hold in held:
        if month_of(hold.at) != month:
            continue
        if hold.deferred:
            person.count(DEFERRALS, hold.component, hold.purpose, ALL, 1)
        if not hold.rule.startswith("quiet:"):
            person.reached(AT_CAP, hold.component, hold.purpose)
    for response in responses:
        person.reached(RESPONSE_SERIES[response.kind], response.component, response.purpose)
    return person


def _distribution(person: _Person, series: str, counts: dict[tuple[str, str], int]) -> None:
    """One contact (or contact-week) per projection, in the bucket of its message count."""
    totals: dict[tuple[str, str], int] = {}
    components: dict[tuple[str, str], dict[str, int]] = {}
    for (component, purpose), n in counts.items():
        for projection in _projections(component, purpose):
            totals[projection] = totals.get(projection, 0) + n
            sent = components.setdefault(projection, {})
            sent[component] = sent.get(component, 0) + n
    for (c, p), n in totals.items():
        for bucket in (bucket_of(n), ALL):
            key = (series, c, p, bucket)
            person.units[key] = person.units.get(key, 0) + 1
            if c == ALL:
                shares = person.by_component.setdefault(key, {})
                for component, messages in components[(c, p)].items():
                    shares[component] = shares.get(component, 0) + messages


# --- Reading the ledger ----------------------------------------------------------------------


def _person_column() -> Any:
    return func.coalesce(ContactAlias.survivor_id, Delivery.contact_id)


def _by_id(session: Session, person: Any) -> Any:
    """Ordered as Python orders str (code points): the streams are merged in Python."""
    return person.collate("C") if session.get_bind().dialect.name == "postgresql" else person


def _sent_rows(session: Session, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    moment = func.coalesce(Delivery.sent_at, Delivery.send_started_at)
    person = _person_column()
    query = (
        select(person, Campaign.owner_component, Campaign.purpose, moment)
        .select_from(Delivery)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .outerjoin(ContactAlias, ContactAlias.merged_id == Delivery.contact_id)
        .where(
            Delivery.message_class == MessageClass.MARKETING.value,
            Delivery.outcome.in_(sorted(COUNTED_BY_PRESSURE)),
            moment >= start,
            moment < end,
            ~Delivery.contact_id.startswith(ERASED_PREFIX),
        )
        .order_by(_by_id(session, person))
        .execution_options(yield_per=_STREAM)
    )
    yield from session.execute(query)


def _held_rows(session: Session, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    moment = func.coalesce(Delivery.deferred_until, Delivery.decided_at)
    person = _person_column()
    query = (
        select(
            person,
            Campaign.owner_component,
            Campaign.purpose,
            Delivery.deferred_until.is_not(None),
            func.coalesce(Delivery.rule, ""),
            moment,
        )
        .select_from(Delivery)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .outerjoin(ContactAlias, ContactAlias.merged_id == Delivery.contact_id)
        .where(
            or_(Delivery.deferred_until.is_not(None), Delivery.outcome == Outcome.CAPPED.value),
            moment >= start,
            moment < end,
            ~Delivery.contact_id.startswith(ERASED_PREFIX),
        )
        .order_by(_by_id(session, person))
        .execution_options(yield_per=_STREAM)
    )
    yield from session.execute(query)


def _response_rows(session: Session, month: str) -> Iterator[tuple[Any, ...]]:
    person = func.coalesce(ContactAlias.survivor_id, PressureResponse.contact_id)
    query = (
        select(person, PressureResponse.kind, PressureResponse.component, PressureResponse.purpose)
        .select_from(PressureResponse)
        .outerjoin(ContactAlias, ContactAlias.merged_id == PressureResponse.contact_id)
        .where(PressureResponse.month == month, PressureResponse.component.is_not(None))
        .order_by(_by_id(session, person))
    )
    yield from session.execute(query)


def _by_person(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    current: str | None = None
    group: list[tuple[Any, ...]] = []
    for row in rows:
        if row[0] != current:
            if current is not None:
                yield current, group
            current, group = row[0], []
        group.append(row[1:])
    if current is not None:
        yield current, group


def _merged(
    *streams: Iterator[tuple[str, list[tuple[Any, ...]]]],
) -> Iterator[tuple[str, list[list[tuple[Any, ...]]]]]:
    """The persons of several person-ordered streams, each with its rows from every stream."""
    heads: list[tuple[str, list[tuple[Any, ...]]] | None] = [next(s, None) for s in streams]
    while any(h is not None for h in heads):
        person = min(h[0] for h in heads if h is not None)
        parts: list[list[tuple[Any, ...]]] = []
        for i, head in enumerate(heads):
            if head is not None and head[0] == person:
                parts.append(head[1])
                heads[i] = next(streams[i], None)
            else:
                parts.append([])
        yield person, parts


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # coalesce() loses the column type on SQLite
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def compute_month(session: Session, month: str, in_database: bool | None = None) -> MonthFigures:
    """The month's cells, from the ledger and the attributed responses (read only).

    On PostgreSQL (`in_database` None) the sends' figures are computed by the database
    (pressure_rollup_sql.py), the held-back mails and responses (a few percent of the
    rows) person by person here; elsewhere (SQLite), everything here.
    """
    if in_database is None:
        in_database = session.get_bind().dialect.name == "postgresql"
    figures = MonthFigures()
    start, end = month_bounds(month)
    week_start, week_end = weeks_span(month)
    sent_rows = (
        iter(())
        if in_database
        else _by_person(_sent_rows(session, min(start, week_start), max(end, week_end)))
    )
    streams = (
        sent_rows,
        _by_person(_held_rows(session, start, end)),
        _by_person(_response_rows(session, month)),
    )
    for _, (sent, held, responses) in _merged(*streams):
        figures.add(
            person_figures(
                month,
                [Sent(c, p, _utc(at)) for c, p, at in sent],
                [HeldBack(c, p, bool(d), r, _utc(at)) for c, p, d, r, at in held],
                [Response(k, c, p or "") for k, c, p in responses],
            )
        )
    if in_database:
        _add_sends(figures, month, (start, end), (week_start, week_end), session)
    return figures


def _add_sends(
    figures: MonthFigures,
    month: str,
    bounds: tuple[datetime, datetime],
    span: tuple[datetime, datetime],
    session: Session,
) -> None:
    from services.campaigns.pressure_rollup_sql import SERIES_OF, sends_figures

    cells, contributors = sends_figures(session, month, bounds, span)
    for kind, component, purpose, bucket, units, contacts, top in cells:
        keys = [(SERIES_OF[kind], component, purpose, bucket)]
        if kind == "M" and bucket == ALL:
            keys.append((CONTACTS_REACHED, component, purpose, ALL))
        for key in keys:
            figures.cells[key] = _Cell(int(units), int(contacts), int(top))
    for kind, purpose, bucket, contributor, units, contacts in contributors:
        keys = [(SERIES_OF[kind], ALL, purpose, bucket)]
        if kind == "M" and bucket == ALL:
            keys.append((CONTACTS_REACHED, ALL, purpose, ALL))
        for key in keys:
            figures.cells[key].components[contributor] = [int(units), int(contacts)]


def store_month(session: Session, month: str, figures: MonthFigures, now: datetime) -> None:
    """Replaces the month's cells, in the caller's transaction, and stamps it computed."""
    _lock_month(session, month)
    session.execute(delete(PressureCellComponent).where(PressureCellComponent.month == month))
    session.execute(delete(PressureCell).where(PressureCell.month == month))
    cells = [
        {
            "month": month,
            "series": s,
            "component": c,
            "purpose": p,
            "bucket": b,
            "units": cell.units,
            "contacts": cell.contacts,
            "top_units": cell.top_units,
        }
        for (s, c, p, b), cell in figures.cells.items()
    ]
    parts = [
        {
            "month": month,
            "series": s,
            "component": c,
            "purpose": p,
            "bucket": b,
            "contributor": contributor,
            "units": units,
            "contacts": contacts,
        }
        for (s, c, p, b), cell in figures.cells.items()
        for contributor, (units, contacts) in cell.components.items()
    ]
    for rows, table in ((cells, PressureCell), (parts, PressureCellComponent)):
        for i in range(0, len(rows), 5000):
            session.execute(insert(table), rows[i : i + 5000])
    session.execute(
        update(PressureMonth)
        .where(PressureMonth.month == month)
        .values(computed_at=now, dirty=False)
    )


def _upsert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _lock_month(session: Session, month: str) -> None:
    """The month's row, created if new and locked: one recompute of a month at a time."""
    session.execute(
        _upsert(session)(PressureMonth)
        .values(month=month, computed_at=None, dirty=True)
        .on_conflict_do_nothing(index_elements=["month"])
    )
    session.execute(
        select(PressureMonth.month).where(PressureMonth.month == month).with_for_update()
    )


def mark_dirty(session: Session, months: Iterable[str]) -> None:
    """Asks the next refresh to recompute these months (in the caller's transaction)."""
    for month in sorted(set(months)):
        session.execute(
            _upsert(session)(PressureMonth)
            .values(month=month, computed_at=None, dirty=True)
            .on_conflict_do_update(index_elements=["month"], set_={"dirty": True})
        )


def months_of_person(session: Session, ids: Sequence[str]) -> set[str]:
    """The months whose cells may count these ids (their mails, held-back mails, responses)."""
    moments = (
        func.coalesce(Delivery.sent_at, Delivery.send_started_at),
        func.coalesce(Delivery.deferred_until, Delivery.decided_at),
    )
    found: set[str] = set()
    for moment in moments:
        for (at,) in session.execute(
            select(moment).where(
                Delivery.contact_id.in_(list(ids)),
                Delivery.message_class == MessageClass.MARKETING.value,
                moment.is_not(None),
            )
        ):
            start = _utc(at)
            found.add(month_of(start))
            found.add(week_month(start)[1])
    found.update(
        session.scalars(
            select(PressureResponse.month).where(PressureResponse.contact_id.in_(list(ids)))
        )
    )
    return found


@dataclass(frozen=True)
class AttributedResponse:
    """A withdrawal or objection of the person and the last marketing mail before it."""

    contact_id: str
    event_id: int
    kind: str
    at: datetime
    component: str | None
    purpose: str | None


def responses_of(session: Session, ids: Sequence[str]) -> list[AttributedResponse]:
    """The person's attributed withdrawals and objections (an access request), oldest first."""
    rows = session.scalars(
        select(PressureResponse)
        .where(PressureResponse.contact_id.in_(list(ids)))
        .order_by(PressureResponse.at, PressureResponse.event_id)
    )
    return [
        AttributedResponse(r.contact_id, r.event_id, r.kind, r.at, r.component, r.purpose)
        for r in rows
    ]


def forget_person(session: Session, ids: Sequence[str]) -> int:
    """Erasure: the person's months to recompute, and their attributed responses deleted."""
    mark_dirty(session, months_of_person(session, ids))
    result = session.execute(
        delete(PressureResponse)
        .where(PressureResponse.contact_id.in_(list(ids)))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- Consent's events --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEvent:
    id: int
    contact_id: str
    kind: str
    purpose: str
    at: datetime


class EventFeed(Protocol):
    def events(self, after: int, page_size: int) -> tuple[list[FeedEvent], int]:
        """Withdrawals and objections after the cursor, oldest first; the next cursor."""
        ...


def attribute(
    session: Session, contact_id: str, at: datetime, window: timedelta
) -> tuple[str, tuple[str, str] | None]:
    """The person (survivor) and the component and purpose of their last marketing mail
    sent within `window` before `at` (None: no mail then)."""
    survivor = session.scalar(
        select(ContactAlias.survivor_id).where(ContactAlias.merged_id == contact_id)
    )
    person = survivor or contact_id
    ids = [
        person,
        *session.scalars(select(ContactAlias.merged_id).where(ContactAlias.survivor_id == person)),
    ]
    moment = func.coalesce(Delivery.sent_at, Delivery.send_started_at)
    last = session.execute(
        select(Campaign.owner_component, Campaign.purpose)
        .select_from(Delivery)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.contact_id.in_(ids),
            Delivery.message_class == MessageClass.MARKETING.value,
            Delivery.outcome.in_(sorted(COUNTED_BY_PRESSURE)),
            moment <= at,
            moment >= at - window,
        )
        .order_by(moment.desc(), Delivery.id.desc())
        .limit(1)
    ).first()
    return person, (str(last[0]), str(last[1])) if last is not None else None


class PressureRollups:
    """The job that keeps the pre-aggregates up to date (run by the leader scheduler)."""

    def __init__(
        self,
        db: Database,
        feed: EventFeed | None,
        attribution_window: timedelta,
        clock: Clock = utc_now,
    ):
        self._db = db
        self._feed = feed
        self._window = attribution_window
        self._clock = clock

    def refresh(self) -> list[str]:
        """Pulls consent's events, then recomputes the months that need it; their names."""
        if self._feed is not None:
            self.pull_events()
        months = self.months_to_compute()
        for month in months:
            self.recompute(month)
        return months

    def pull_events(self) -> int:
        """Consent's new withdrawals and objections, attributed and stored; how many were new."""
        assert self._feed is not None
        added = 0
        while True:
            with self._db.transaction() as session:
                cursor = session.scalar(
                    select(PressureCursor.position).where(PressureCursor.feed == CONSENT_FEED)
                )
            position = int(cursor or 0)
            events, after = self._feed.events(max(0, position - FEED_OVERLAP), FEED_PAGE)
            seen = self._seen([e.id for e in events if e.id <= position])
            fresh = [e for e in events if e.id not in seen]
            with self._db.transaction() as session:
                for event in fresh:
                    added += self._store_event(session, event)
                self._advance(session, position, max(position, after))
            if len(events) < FEED_PAGE or after <= position:
                return added

    def _seen(self, event_ids: list[int]) -> set[int]:
        """Those of the events re-read before the cursor already stored."""
        if not event_ids:
            return set()
        with self._db.transaction() as session:
            return set(
                session.scalars(
                    select(PressureResponse.event_id).where(
                        PressureResponse.event_id.in_(event_ids)
                    )
                )
            )

    def _store_event(self, session: Session, event: FeedEvent) -> int:
        if event.kind not in RESPONSE_SERIES:
            return 0
        person, last = attribute(session, event.contact_id, event.at, self._window)
        month = month_of(event.at)
        stored = session.execute(
            _upsert(session)(PressureResponse)
            .values(
                event_id=event.id,
                contact_id=person,
                kind=event.kind,
                at=event.at,
                month=month,
                component=last[0] if last else None,
                purpose=last[1] if last else None,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(PressureResponse.event_id)
        ).first()
        if stored is None:
            return 0
        if month != month_of(self._clock()):
            mark_dirty(session, [month])  # a late event: its month is closed
        return 1

    def _advance(self, session: Session, old: int, new: int) -> None:
        now = self._clock()
        if new == old:
            return
        moved = session.execute(
            update(PressureCursor)
            .where(PressureCursor.feed == CONSENT_FEED, PressureCursor.position == old)
            .values(position=new, updated_at=now)
        )
        if moved.rowcount == 0:  # type: ignore[attr-defined]
            session.execute(
                _upsert(session)(PressureCursor)
                .values(feed=CONSENT_FEED, position=new, updated_at=now)
                .on_conflict_do_nothing(index_elements=["feed"])
            )

    def months_to_compute(self) -> list[str]:
        """The current month, every month not yet computed once after it became final (the
        one before, for its last week and the sends still landing), dirty ones, and those
        never computed. A closed month is not recomputed at every run: at ten million
        ledger rows each month costs tens of seconds of the database."""
        now = self._clock()
        current = month_of(now)
        with self._db.transaction() as session:
            rows = session.execute(
                select(PressureMonth.month, PressureMonth.computed_at, PressureMonth.dirty)
            ).all()
            known = {month for month, _, _ in rows}
            wanted = {current} | ({previous_month(current)} - known)
            wanted.update(
                month
                for month, computed, dirty in rows
                if dirty or computed is None or _utc(computed) < final_at(month)
            )
            first = session.scalar(
                select(func.min(func.coalesce(Delivery.sent_at, Delivery.send_started_at))).where(
                    Delivery.message_class == MessageClass.MARKETING.value
                )
            )
        if first is not None:
            month = month_of(_utc(first))
            while month < current:
                if month not in known:
                    wanted.add(month)
                _, end = month_bounds(month)
                month = month_of(end)
        return sorted(m for m in wanted if m <= current)

    def recompute(self, month: str) -> None:
        """One month's cells, recomputed and replaced in one transaction."""
        with self._db.transaction() as session:
            _lock_month(session, month)
            figures = compute_month(session, month)
            store_month(session, month, figures, self._clock())
        log.info("pressure rollup: %s recomputed (%d cells)", month, len(figures.cells))


def computed_at(session: Session, month: str) -> datetime | None:
    return session.scalar(select(PressureMonth.computed_at).where(PressureMonth.month == month))
