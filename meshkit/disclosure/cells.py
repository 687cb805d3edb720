"""Statistical disclosure control for aggregate queries: which cells of a table may be published.

The core works on one `CellSummary` per cell (interior cells and every margin; a margin's key
has None where it sums a dimension), as SQL with GROUPING SETS gives them: distinct contacts,
signed total, magnitude (sum of |values|), the largest contact's magnitude, per-component
contacts and magnitude, the quantile when asked, and a sketch for the query auditor.
`protect_summaries` returns a `Table` of cells, each published with its value or suppressed
with a reason. `protect(rows, ...)` is `protect_summaries(summarize(rows, ...), ...)`: one core
for both paths. Plain Python, no I/O. docs/disclosure-control.md explains the rules; in short:

1. Primary suppression, per cell: at least `k` contacts, at least `min_components`
   contributing components, and no single contact nor single component contributing more than
   `p`% of the cell (of its count for a count; of its count and of its magnitude for the
   other statistics).
2. Secondary (complementary) suppression, for margins: in each line (a margin and the cells it
   sums), a suppressed cell never stands alone and the suppressed cells of a line with a
   published margin together pass the primary rules (their total is the margin minus the
   published cells). That union is exact when the line's cells are disjoint in contacts (the
   margin counts as many contacts as its cells together) and a safe bound otherwise (a
   contact in two cells, as with the component dimension): fewest contacts, largest tops.
   Then an exact rank test (linear) proves that no suppressed cell is determined by the
   published ones, suppressing more until none is. Complementary cells are chosen greedily,
   smallest contribution first.
3. One pattern per query for the non-additive statistics: mean, median and percentiles are
   published exactly where the sum (and the count) of the same query would be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import product
from math import floor
from types import MappingProxyType

from meshkit.disclosure.secondary import Key, complete, order
from meshkit.disclosure.sketch import Sketch, sketch_of
from meshkit.errors import FieldViolation, InvalidArgument

Number = int | Decimal | Fraction
Exact = int | Fraction  # ints stay ints inside: exact, and much faster than Fraction


class Statistic(StrEnum):
    COUNT = "count"  # distinct contacts in the cell
    SUM = "sum"
    MEAN = "mean"  # sum / count
    MEDIAN = "median"  # of the per-contact totals
    PERCENTILE = "percentile"  # of the per-contact totals, linear interpolation


class Reason(StrEnum):
    TOO_FEW_CONTACTS = "too_few_contacts"
    TOO_FEW_COMPONENTS = "too_few_components"
    DOMINATED = "dominated"
    COMPLEMENTARY = "complementary"  # secondary: hides another suppressed cell


@dataclass(frozen=True)
class Rules:
    k: int = 5  # minimum contacts per published cell
    min_components: int = 2  # minimum contributing components per published cell
    p: Number = 80  # percent: no contact or component contributes more than this

    def __post_init__(self) -> None:
        violations = []
        if self.k < 1:
            violations.append(FieldViolation("k", "must be at least 1"))
        if self.min_components < 1:
            violations.append(FieldViolation("min_components", "must be at least 1"))
        if not 0 < self.p <= 100:
            violations.append(FieldViolation("p", "must be above 0 and at most 100"))
        if violations:
            raise InvalidArgument("invalid disclosure rules", violations)


@dataclass(frozen=True)
class Row:
    contact: str
    component: str
    cell: tuple[str, ...]
    value: Number | None = None  # required except for a count


@dataclass(frozen=True)
class CellSummary:
    """What the rules need of one cell, whatever the number of rows behind it."""

    contacts: int  # distinct contacts in the cell
    total: Exact  # signed sum of values (for COUNT: == contacts)
    magnitude: Exact  # sum over contacts of their sum of |values|
    top_contact: Exact  # largest single contact's magnitude
    components: Mapping[str, tuple[int, Exact]]  # component -> (contacts, magnitude)
    quantile: Fraction | None = None  # median/percentile of per-contact totals, when asked
    sketch: Sketch | None = None  # of the cell's contacts, for the query auditor


@dataclass(frozen=True)
class Cell:
    key: Key
    value: Fraction | None  # None when suppressed
    reason: Reason | None  # None when published

    @property
    def published(self) -> bool:
        return self.reason is None

    @property
    def is_margin(self) -> bool:
        return None in self.key


@dataclass(frozen=True)
class Table:
    statistic: Statistic
    dimensions: int
    cells: tuple[Cell, ...]  # interior cells first, then margins, each in key order
    # The sketch of each published cell's contacts, for the query auditor (audit): never
    # sent to a caller. Only the cells whose summary carried a sketch.
    sketches: Mapping[Key, Sketch] = field(repr=False, compare=False)

    def cell(self, key: Key) -> Cell:
        for cell in self.cells:
            if cell.key == key:
                return cell
        raise KeyError(key)

    @property
    def published(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.published)

    @property
    def suppressed(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if not c.published)


def _exact(value: Number | None) -> Exact:
    if value is None:
        raise InvalidArgument("a value is missing", [FieldViolation("value", "required")])
    if isinstance(value, float):  # refused: a float sum is not exact  # type: ignore[unreachable]
        raise InvalidArgument("values must be exact", [FieldViolation("value", "not exact")])
    if isinstance(value, int):
        return value
    exact = Fraction(value)
    return exact.numerator if exact.denominator == 1 else exact


def _check_percentile(statistic: Statistic, percentile: Number | None) -> None:
    if statistic is Statistic.PERCENTILE and (percentile is None or not 0 <= percentile <= 100):
        raise InvalidArgument(
            "a percentile between 0 and 100 is required",
            [FieldViolation("percentile", "between 0 and 100")],
        )


def quantile(values: Sequence[Exact], q: Number) -> Fraction:
    """The q-th percentile of `values`, linear interpolation between closest ranks."""
    ordered = sorted(values)
    n = len(ordered)
    position = (n - 1) * Fraction(q) / 100
    low = floor(position)
    high = min(low + 1, n - 1)
    return Fraction(ordered[low]) + (ordered[high] - ordered[low]) * (position - low)


class _Gather:
    """Who contributes what to one cell, from rows."""

    def __init__(self) -> None:
        self.totals: dict[str, Exact] = {}  # contact -> signed total of its rows
        self.sizes: dict[str, Exact] = {}  # contact -> sum of |values|
        self.component_size: dict[str, Exact] = {}  # component -> sum of |values|
        self.component_contacts: dict[str, set[str]] = {}

    def add(self, contact: str, component: str, value: Exact) -> None:
        size = value if value >= 0 else -value
        self.totals[contact] = self.totals.get(contact, 0) + value
        self.sizes[contact] = self.sizes.get(contact, 0) + size
        self.component_size[component] = self.component_size.get(component, 0) + size
        self.component_contacts.setdefault(component, set()).add(contact)

    def summary(
        self, statistic: Statistic, percentile: Number | None, secret: str | None, k: int
    ) -> CellSummary:
        n = len(self.totals)
        sketch = sketch_of(secret, self.totals, k) if secret is not None else None
        if statistic is Statistic.COUNT:
            return CellSummary(
                n,
                n,
                n,
                1 if n else 0,
                {c: (len(m), len(m)) for c, m in self.component_contacts.items()},
                sketch=sketch,
            )
        wanted = statistic in (Statistic.MEDIAN, Statistic.PERCENTILE) and n > 0
        q = 50 if statistic is Statistic.MEDIAN else percentile
        return CellSummary(
            n,
            sum(self.totals.values(), 0),
            sum(self.sizes.values(), 0),
            max(self.sizes.values(), default=0),
            {c: (len(m), self.component_size[c]) for c, m in self.component_contacts.items()},
            quantile(list(self.totals.values()), q or 0) if wanted else None,
            sketch,
        )


def summarize(
    rows: Iterable[Row],
    statistic: Statistic,
    *,
    dimensions: int | None = None,
    percentile: Number | None = None,
    margins: bool = True,
    sketch_secret: str | None = None,
    k: int = 5,
) -> dict[Key, CellSummary]:
    """One summary per cell of `rows` (and per margin, with `margins`), as SQL would give them.

    With `sketch_secret`, each summary carries the sketch of its contacts with degrees(k)
    sums. The grand total is always there with `margins`, empty when there are no rows.
    """
    _check_percentile(statistic, percentile)
    rows = list(rows)
    if dimensions is None:
        if not rows:
            raise InvalidArgument("dimensions required", [FieldViolation("dimensions", "required")])
        dimensions = len(rows[0].cell)
    masks = list(product((False, True), repeat=dimensions)) if margins else [(False,) * dimensions]
    cells: dict[Key, _Gather] = {}
    for row in rows:
        if len(row.cell) != dimensions:
            raise InvalidArgument("rows of one query share their dimensions", [])
        value = 1 if statistic is Statistic.COUNT else _exact(row.value)
        for mask in masks:
            key = tuple(None if total else v for v, total in zip(row.cell, mask, strict=True))
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = _Gather()
            cell.add(row.contact, row.component, value)
    if margins:
        cells.setdefault((None,) * dimensions, _Gather())
    return {
        key: cell.summary(statistic, percentile, sketch_secret, k) for key, cell in cells.items()
    }


def _dominated(largest: Exact, whole: Exact, p: Number) -> bool:
    return whole > 0 and largest * 100 > Fraction(p) * whole


def primary_reason(cell: CellSummary, statistic: Statistic, rules: Rules) -> Reason | None:
    """The (n, k) dominance rules for one cell; None when it may be published."""
    n = cell.contacts
    if n < rules.k:
        return Reason.TOO_FEW_CONTACTS
    present = [v for v in cell.components.values() if v[0] > 0]
    if len(present) < rules.min_components:
        return Reason.TOO_FEW_COMPONENTS
    # shares of the count: one contact is 1/n of it, a component the contacts it brings
    largest_component = max(contacts for contacts, _ in present)
    if _dominated(1, n, rules.p) or _dominated(largest_component, n, rules.p):
        return Reason.DOMINATED
    if statistic is not Statistic.COUNT:
        whole = cell.magnitude
        if _dominated(cell.top_contact, whole, rules.p) or _dominated(
            max(size for _, size in present), whole, rules.p
        ):
            return Reason.DOMINATED
    return None


def union(cells: Sequence[CellSummary], disjoint: bool) -> CellSummary:
    """The summary of the union of some cells of one line (their rows never overlap).

    Exact when the cells are `disjoint` in contacts. Otherwise a bound that can only make
    suppression stronger: the fewest contacts the union may have (the largest cell's), the
    largest top contact it may have (the sum of the tops) and, per component, the most
    contacts and magnitude (sums over the cells). Magnitudes add up exactly either way.
    """
    components: dict[str, tuple[int, Exact]] = {}
    for cell in cells:
        for name, (contacts, size) in cell.components.items():
            before = components.get(name, (0, 0))
            components[name] = (before[0] + contacts, before[1] + size)
    return CellSummary(
        sum(c.contacts for c in cells) if disjoint else max(c.contacts for c in cells),
        sum((c.total for c in cells), 0),
        sum((c.magnitude for c in cells), 0),
        max(c.top_contact for c in cells) if disjoint else sum((c.top_contact for c in cells), 0),
        components,
    )


def _value(cell: CellSummary, statistic: Statistic) -> Fraction:
    if statistic is Statistic.COUNT:
        return Fraction(cell.contacts)
    if statistic is Statistic.SUM:
        return Fraction(cell.total)
    if statistic is Statistic.MEAN:
        return Fraction(cell.total) / cell.contacts
    if cell.quantile is None:
        raise InvalidArgument(
            "the quantile of each cell is required", [FieldViolation("quantile", "required")]
        )
    return Fraction(cell.quantile)


def protect_summaries(
    summaries: Mapping[Key, CellSummary],
    statistic: Statistic,
    rules: Rules | None = None,
    *,
    dimensions: int,
    percentile: Number | None = None,
) -> Table:
    """The protected table of one aggregate query given one summary per cell.

    `summaries` holds the interior cells and the margins wanted (all of them for a full
    table; a key has None where its cell sums a dimension). `percentile` is only checked:
    the caller computed each cell's `quantile` with it.
    """
    rules = rules or Rules()
    _check_percentile(statistic, percentile)
    for key in summaries:
        if len(key) != dimensions:
            raise InvalidArgument("cells of one query share their dimensions", [])
    needs_quantile = statistic in (Statistic.MEDIAN, Statistic.PERCENTILE)
    if needs_quantile and any(s.contacts and s.quantile is None for s in summaries.values()):
        raise InvalidArgument(
            "the quantile of each cell is required", [FieldViolation("quantile", "required")]
        )

    suppressed = {
        key: reason
        for key, cell in summaries.items()
        if (reason := primary_reason(cell, statistic, rules)) is not None
    }

    def size(key: Key) -> tuple[Exact, int]:
        cell = summaries[key]
        return (cell.contacts if statistic is Statistic.COUNT else cell.magnitude, cell.contacts)

    disjoint_lines: dict[tuple[Key, Key], bool] = {}

    def publishable(margin: Key, line: Sequence[Key], hidden: Sequence[Key]) -> bool:
        tag = (margin, line[0])
        disjoint = disjoint_lines.get(tag)
        if disjoint is None:
            children = sum(summaries[key].contacts for key in line)
            disjoint = disjoint_lines[tag] = summaries[margin].contacts == children
        together = union([summaries[key] for key in hidden], disjoint)
        return primary_reason(together, statistic, rules) is None

    for key in complete(list(summaries), set(suppressed), size, publishable):
        suppressed[key] = Reason.COMPLEMENTARY

    ordered = sorted(summaries, key=lambda k: (None in k, order(k)))
    sketches = {}
    for key in ordered:
        sketch = summaries[key].sketch
        if key not in suppressed and sketch is not None:
            sketches[key] = sketch
    return Table(
        statistic,
        dimensions,
        tuple(
            Cell(key, None, suppressed[key])
            if key in suppressed
            else Cell(key, _value(summaries[key], statistic), None)
            for key in ordered
        ),
        MappingProxyType(sketches),
    )


def protect(
    rows: Iterable[Row],
    statistic: Statistic,
    rules: Rules | None = None,
    *,
    dimensions: int | None = None,
    percentile: Number | None = None,
    margins: bool = True,
    sketch_secret: str | None = None,
) -> Table:
    """The protected table of one aggregate query over `rows`.

    `dimensions` is the number of coordinates of each row's cell (read from the rows when
    omitted; required for an empty query). With `margins`, every total over any set of
    dimensions is a cell too (for two dimensions: row, column and grand totals); the grand
    total is always there, suppressed when there is nothing to publish. With
    `sketch_secret`, the table carries the sketches of its published cells for the auditor.
    """
    rules = rules or Rules()
    rows = list(rows)
    if dimensions is None:
        if not rows:
            raise InvalidArgument("dimensions required", [FieldViolation("dimensions", "required")])
        dimensions = len(rows[0].cell)
    summaries = summarize(
        rows,
        statistic,
        dimensions=dimensions,
        percentile=percentile,
        margins=margins,
        sketch_secret=sketch_secret,
        k=rules.k,
    )
    return protect_summaries(
        summaries, statistic, rules, dimensions=dimensions, percentile=percentile
    )
