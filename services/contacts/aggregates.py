"""The Aggregate use case: one statistic of a numeric field, grouped by dimensions, protected.

1. The request is checked (measure a number field, required unless COUNT; 0..3 distinct
   known dimensions; percentile 0..100 with PERCENTILE; a scope).
2. The caller must be allowed to aggregate the measure and every FIELD/YEAR dimension's
   field beyond its own component's values (a read or aggregate grant that admits it as the
   grouping, a named component or a member): otherwise PERMISSION_DENIED naming the field,
   never an empty table (which would tell it something).
3. Only the values the caller may aggregate count (policy.aggregate_scope, in SQL). REACH:
   the contacts the caller's component is a member of; GROUPING: every contact (callers with
   a component, or the communication and admin roles).
4. Every cell is summarised (aggregate_sql; in Python on SQLite), then protected
   (meshkit.disclosure.protect_summaries), then audited against the caller's earlier answers
   (its component's, colleagues share answers; its own for a caller without a component).
   A refused answer writes nothing; an allowed one records its published cells' sketches.
5. On PostgreSQL, with a snapshot TTL (the service's CONTACTS_AGGREGATE_SNAPSHOT_SECONDS),
   the statement's summaries come from a snapshot younger than the TTL computed under the
   current organisation version (aggregate_snapshots); steps 2 and 4 run on every request.
   The answer's `as_of` is when its figures were computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from meshkit.db import Database
from meshkit.disclosure import (
    CellSummary,
    Fingerprint,
    Key,
    Row,
    Rules,
    Sketch,
    Statistic,
    Table,
    audit,
    degrees,
    fingerprints,
    protect_summaries,
    summarize,
)
from meshkit.errors import PermissionDenied, Violations
from meshkit.fields import FieldType
from meshkit.identity import Principal
from meshkit.roles import Role
from services.contacts import aggregate_snapshots, organisation, repository
from services.contacts.aggregate_snapshots import StatementSlots
from services.contacts.aggregate_sql import (
    MISSING,
    Axis,
    Plan,
    Q,
    candidates_sql,
    key_of,
    measured_sql,
)
from services.contacts.indicator_rules import MAX_DIMENSIONS
from services.contacts.indicators_admin import Dimension, Source, dimensions, disclosure_settings
from services.contacts.models import AggregateAuditRow, utcnow
from services.contacts.policy import ReadScope, Viewer, aggregate_scope

COUNT_MEASURE = "contacts"  # the auditor's measure of a count without a measure field
# Cells of one answer, totals included: 1,000 are protected in well under a second.
MAX_CELLS = 1000
WILDCARD = "*."  # a measure "*.<key>": every component's number attribute of that key


class Scope(StrEnum):
    REACH = "reach"
    GROUPING = "grouping"


@dataclass(frozen=True)
class AggregateQuery:
    measure: str
    statistic: Statistic | None  # None: unspecified (refused)
    percentile: float = 0.0
    dimensions: tuple[str, ...] = ()
    scope: Scope | None = None


@dataclass(frozen=True)
class Coordinate:
    dimension: str
    value: str  # "" on a margin
    total: bool


@dataclass(frozen=True)
class AnswerCell:
    coordinates: tuple[Coordinate, ...]
    published: bool
    value: str  # "" when suppressed
    reason: str  # "" when published


@dataclass(frozen=True)
class Answer:
    cells: tuple[AnswerCell, ...]
    k: int
    p: int
    min_components: int
    query: str
    as_of: datetime  # the figures are those of this time (a snapshot's computation)


def format_value(value: Fraction, statistic: Statistic) -> str:
    """Counts as integers; any other figure rounded half-even to 4 places, zeros trimmed."""
    if statistic is Statistic.COUNT:
        return str(int(value))
    scaled = round(value * 10_000)  # Fraction.__round__: exact, half to even
    sign = "-" if scaled < 0 else ""
    whole, fraction = divmod(abs(scaled), 10_000)
    digits = f"{fraction:04d}".rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def describe(query: AggregateQuery) -> str:
    """How the auditor names the query back to the caller (no figure, no contact)."""
    statistic = query.statistic.value if query.statistic else ""
    if query.statistic is Statistic.PERCENTILE:
        statistic = f"percentile {format_value(Fraction(query.percentile), Statistic.SUM)}"
    what = f"{statistic} of {query.measure}" if query.measure else f"{statistic} of contacts"
    by = f" by {', '.join(query.dimensions)}" if query.dimensions else ""
    scope = query.scope.value if query.scope else ""
    return f"{what}{by} over the {scope}"


def holder_of(viewer: Viewer) -> str:
    """Whose history an answer joins: the component (colleagues share answers), or the person."""
    return viewer.component or f"subject:{viewer.subject}"


def aggregate(
    db: Database,
    principal: Principal,
    query: AggregateQuery,
    secret: str,
    retention_days: int = 365,
    snapshot_seconds: float | None = None,
    slots: StatementSlots | None = None,
) -> Answer:
    """One protected, audited aggregate (see the module's docstring).

    `snapshot_seconds`: None computes every answer afresh and keeps nothing; a number is
    the TTL of the statement's snapshots (0: always recomputed, and stored for the refresher).
    `slots`: how many statements the process runs at once (None: no bound).
    """
    as_of = utcnow()
    with db.transaction() as session:
        viewer = _viewer(session, principal)
        rules = organisation.rules(session)
        known = dimensions(session)
        catalogue = repository.load_catalogue(session)
        settings = disclosure_settings(session)
        attributes = list(catalogue.attributes)
        axes = _check(query, viewer, known, catalogue.type_of, attributes)
        fields = measure_fields(query.measure, catalogue.type_of, attributes)
        plan = _plan(query, viewer, rules, fields, axes, settings.k)
        holder = holder_of(viewer)
        measure = query.measure or COUNT_MEASURE
        if session.get_bind().dialect.name == "postgresql":
            # one answer of a holder at a time: the history it is audited against is complete
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:h))"), {"h": holder})
            if snapshot_seconds is None:
                rows = aggregate_snapshots.run_statement(session, plan, secret, slots)
            else:
                snapshot = aggregate_snapshots.summary_rows(
                    session, plan, secret, snapshot_seconds, slots=slots
                )
                rows, as_of = snapshot.rows, snapshot.computed_at
            summaries = _postgres_summaries(rows, plan, query)
        else:
            summaries = _python_summaries(session, plan, query, secret, settings.k)
        _bounded(summaries)
        assert query.statistic is not None
        table = protect_summaries(
            summaries,
            query.statistic,
            Rules(k=settings.k, min_components=settings.min_components, p=settings.p),
            dimensions=len(plan.axes),
            percentile=_percentile(query),
        )
        described = describe(query)
        answer = fingerprints(table, measure=measure, query=described)
        since = utcnow() - timedelta(days=retention_days)
        history = _history(session, holder, measure, since)
        refusal = audit(history, answer, settings.k)
        if refusal is not None:
            raise PermissionDenied(refusal.message)
        _record(session, holder, answer, since)
    return _answer(table, query, settings.k, settings.p, settings.min_components, described, as_of)


def _bounded(summaries: Mapping[Key, CellSummary]) -> None:
    """Refuses a table too large to protect in a request's time.

    Complementary suppression proves, by exact rank tests, that no hidden cell can be
    computed: milliseconds for a few hundred cells, seconds at 2,000 (docs/disclosure-
    control.md). A grouping by a field of many values would hold a worker for minutes.
    """
    if len(summaries) > MAX_CELLS:
        problems = Violations()
        problems.add(
            "dimensions",
            f"these dimensions make more than {MAX_CELLS} cells with their totals: "
            "group by fewer or coarser dimensions",
        )
        problems.raise_if_any()


def _percentile(query: AggregateQuery) -> Fraction | None:
    """The percentile asked, exactly as the caller wrote it (a float's shortest decimal)."""
    if query.statistic is not Statistic.PERCENTILE:
        return None
    return Fraction(Decimal(repr(query.percentile)))


def _viewer(session: Session, principal: Principal) -> Viewer:
    effective = organisation.effective_principal(session, principal)
    return Viewer(
        effective.subject,
        effective.component,
        effective.service,
        effective.level,
        frozenset(effective.roles),
    )


def measure_fields(measure: str, type_of: Any, attributes: Iterable[str]) -> list[str]:
    """The number fields a measure names: itself, or with `*.<key>` every component's number
    attribute of that key (each component keeps its own figure of one shared notion)."""
    if measure.startswith(WILDCARD):
        key = measure[len(WILDCARD) :]
        return sorted(
            f for f in attributes if f.split(".", 1)[1] == key and type_of(f) is FieldType.NUMBER
        )
    return [measure] if type_of(measure) is FieldType.NUMBER else []


def _check(
    query: AggregateQuery,
    viewer: Viewer,
    known: Mapping[str, Dimension],
    type_of: Any,
    attributes: Iterable[str],
) -> list[Dimension]:
    problems = Violations()
    if query.statistic is None:
        problems.add("statistic", "is required")
    if query.measure:
        if not measure_fields(query.measure, type_of, attributes):
            problems.add("measure", "must be a number field of the catalogue (or *.<key>)")
    elif query.statistic is not None and query.statistic is not Statistic.COUNT:
        problems.add("measure", "is required unless the statistic is COUNT")
    if query.statistic is Statistic.PERCENTILE and not 0 <= query.percentile <= 100:
        problems.add("percentile", "between 0 and 100")
    if len(query.dimensions) > MAX_DIMENSIONS:
        problems.add("dimensions", f"at most {MAX_DIMENSIONS}")
    if len(set(query.dimensions)) != len(query.dimensions):
        problems.add("dimensions", "each dimension at most once")
    for index, name in enumerate(query.dimensions):
        if name not in known:
            problems.add(f"dimensions[{index}]", "no such dimension")
    if query.scope is None:
        problems.add("scope", "is required (reach or grouping)")
    elif query.scope is Scope.REACH and viewer.component is None:
        problems.add("scope", "reach needs a caller acting for a component")
    problems.raise_if_any()
    if (
        query.scope is Scope.GROUPING
        and viewer.component is None
        and not viewer.roles & {Role.COMMUNICATION.value, Role.ADMIN.value}
    ):
        raise PermissionDenied("the grouping scope needs a component or the communication role")
    return [known[name] for name in query.dimensions]


def _beyond_own(scope: ReadScope) -> bool:
    """Whether a scope reaches values other than the caller's own component's."""
    return scope.everyone or (scope.as_member and scope.component is not None)


def _plan(
    query: AggregateQuery,
    viewer: Viewer,
    rules: Any,
    fields: Sequence[str],
    chosen: Sequence[Dimension],
    k: int,
) -> Plan:
    measures = []
    for field in fields if query.measure else ():
        measure_scope = aggregate_scope(rules, viewer, field)
        if not _beyond_own(measure_scope):
            raise PermissionDenied(
                f"measure: you may not aggregate {field} beyond your component's "
                "own values (no read or aggregate grant admits you)"
            )
        measures.append((field, measure_scope))
    axes = []
    for dimension in chosen:
        assert dimension.source is not None
        axis_scope: ReadScope | None = None
        if dimension.source in (Source.FIELD, Source.YEAR):
            axis_scope = aggregate_scope(rules, viewer, dimension.field)
            if not _beyond_own(axis_scope):
                raise PermissionDenied(
                    f"dimensions: you may not aggregate {dimension.field} (dimension "
                    f"{dimension.id}) beyond your component's own values (no read or "
                    "aggregate grant admits you)"
                )
        axes.append(Axis(dimension.source.value, dimension.field, axis_scope))
    quantile = None
    if query.statistic is Statistic.MEDIAN:
        quantile = 0.5
    elif query.statistic is Statistic.PERCENTILE:
        quantile = query.percentile / 100
    return Plan(
        measures=tuple(measures),
        axes=tuple(axes),
        reach=viewer.component if query.scope is Scope.REACH else None,
        component=viewer.component or "",
        quantile=quantile,
        degrees=degrees(k),
    )


def _exact(value: Any) -> int | Fraction:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    exact = Fraction(value if isinstance(value, Decimal) else Decimal(str(value)))
    return exact.numerator if exact.denominator == 1 else exact


def _postgres_summaries(
    rows: Iterable[Sequence[Any]], plan: Plan, query: AggregateQuery
) -> dict[Key, CellSummary]:
    """Every cell's summary from the statement's rows (fresh, or a snapshot's JSON)."""
    n = len(plan.axes)
    cells: dict[Key, dict[str, Any]] = {}
    components: dict[Key, dict[str, tuple[int, int | Fraction]]] = {}
    for row in rows:
        tag, flags = row[0], int(row[1])
        key = key_of(flags, list(row[2 : 2 + n]))
        rest = row[2 + n :]
        if tag == "component":
            owner, contacts, magnitude = rest[0], int(rest[1]), _exact(rest[3])
            components.setdefault(key, {})[owner] = (contacts, magnitude)
            continue
        cells[key] = {
            "contacts": int(rest[1]),
            "total": _exact(rest[2]),
            "magnitude": _exact(rest[3]),
            "top": _exact(rest[4]),
            "quantile": rest[5],
            "sums": tuple(int(s or 0) % Q for s in rest[6 : 6 + plan.degrees]),
        }
    cells.setdefault((None,) * n, {})
    count = query.statistic is Statistic.COUNT
    summaries = {}
    for key, cell in cells.items():
        contacts = cell.get("contacts", 0)
        parts = components.get(key, {})
        quantile = cell.get("quantile")
        summaries[key] = CellSummary(
            contacts=contacts,
            total=contacts if count else cell.get("total", 0),
            magnitude=contacts if count else cell.get("magnitude", 0),
            top_contact=(1 if contacts else 0) if count else cell.get("top", 0),
            components={c: (m, m) if count else (m, s) for c, (m, s) in parts.items()},
            quantile=Fraction(quantile) if quantile is not None and plan.quantile else None,
            sketch=Sketch(contacts, cell.get("sums", (0,) * plan.degrees)),
        )
    return summaries


def parts(session: Session, plan: Plan) -> list[Row]:
    """The rows of the query (portable SQL, the dimension values chosen in Python)."""
    params: dict[str, Any] = {}
    measured = session.execute(text(measured_sql(plan, params)), params).all()
    chosen: list[dict[str, str]] = []
    kinds: dict[str, str] = {}
    for index, axis in enumerate(plan.axes):
        values: dict[str, tuple[bool, str, str]] = {}
        if axis.source in ("field", "year"):
            params = {}
            for contact, owner, value in session.execute(
                text(candidates_sql(axis, index, plan, params)), params
            ):
                rank = (owner != plan.component, owner, value)
                if contact not in values or rank < values[contact]:
                    values[contact] = rank
        chosen.append({c: v[2] for c, v in values.items()})
        if axis.source == "kind" and not kinds:
            kinds = dict(session.execute(text("SELECT id, kind FROM contacts")).all())
    rows = []
    for contact, owner, x in measured:
        cell = []
        for index, axis in enumerate(plan.axes):
            if axis.source == "kind":
                cell.append(kinds[contact])
            elif axis.source == "component":
                cell.append(owner)
            else:
                cell.append(chosen[index].get(contact, MISSING))
        rows.append(Row(contact, owner, tuple(cell), _exact(x)))
    return rows


def _python_summaries(
    session: Session, plan: Plan, query: AggregateQuery, secret: str, k: int
) -> dict[Key, CellSummary]:
    assert query.statistic is not None
    return summarize(
        parts(session, plan),
        query.statistic,
        dimensions=len(plan.axes),
        percentile=_percentile(query),
        sketch_secret=secret,
        k=k,
    )


def _history(session: Session, holder: str, measure: str, since: Any) -> list[Fingerprint]:
    rows = session.execute(
        select(AggregateAuditRow.query, AggregateAuditRow.contacts, AggregateAuditRow.sums).where(
            AggregateAuditRow.holder == holder,
            AggregateAuditRow.measure == measure,
            AggregateAuditRow.at >= since,
        )
    )
    return [
        Fingerprint(measure, query, Sketch(int(contacts), tuple(int(s) for s in sums)))
        for query, contacts, sums in rows
    ]


def _record(session: Session, holder: str, answer: Sequence[Fingerprint], since: Any) -> None:
    session.execute(
        delete(AggregateAuditRow).where(
            AggregateAuditRow.holder == holder, AggregateAuditRow.at < since
        )
    )
    now = utcnow()
    if answer:
        session.execute(
            insert(AggregateAuditRow),
            [
                {
                    "holder": holder,
                    "measure": f.measure,
                    "query": f.query,
                    "contacts": f.sketch.contacts,
                    "sums": list(f.sketch.sums),
                    "at": now,
                }
                for f in answer
            ],
        )


def _answer(
    table: Table,
    query: AggregateQuery,
    k: int,
    p: int,
    min_components: int,
    described: str,
    as_of: datetime,
) -> Answer:
    assert query.statistic is not None
    cells = []
    for cell in table.cells:
        coordinates = tuple(
            Coordinate(name, value or "", value is None)
            for name, value in zip(query.dimensions, cell.key, strict=True)
        )
        published = cell.reason is None and cell.value is not None
        cells.append(
            AnswerCell(
                coordinates,
                published,
                format_value(cell.value, query.statistic)
                if published and cell.value is not None
                else "",
                cell.reason.value if cell.reason is not None else "",
            )
        )
    return Answer(tuple(cells), k, p, min_components, described, as_of)
