"""Statistical disclosure control for aggregate queries: which cells of a table may be published.

Input: the microdata of one aggregate query, rows of (contact, contributing component, value)
each with its cell's coordinates (sector, year, ...). Output: a `Table` of cells, the interior
cells and their margins (row, column and grand totals), each published with its value or
suppressed with a reason. Plain Python, no I/O: the contacts service gathers the rows the
caller may aggregate, calls `protect`, and sends only what it returns. docs/disclosure-control.md
explains the rules and the choices; in short:

1. Primary suppression, per cell: at least `k` contacts, at least `min_components`
   contributing components, and no single contact nor single component contributing more than
   `p`% of the cell (of its count for a count; of its count and of its magnitude, the sum of
   absolute values, for the other statistics).
2. Secondary (complementary) suppression, for margins: in each line (a margin and the cells it
   sums), a suppressed cell never stands alone and the suppressed cells of a line with a
   published margin together pass the primary rules (their total is the margin minus the
   published cells); then an exact rank test (disclosure_linear) proves that no suppressed cell
   is determined by the published ones, suppressing more until none is. Complementary cells
   are chosen greedily, smallest contribution first.
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

from meshkit.errors import FieldViolation, InvalidArgument
from services.contacts.disclosure_secondary import Key, complete, order

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
    # The contact ids behind each published cell, for the query auditor (disclosure_audit):
    # never sent to a caller.
    members: Mapping[Key, frozenset[str]] = field(repr=False, compare=False)

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


class _Contributions:
    """Who contributes what to one cell (or to a union of cells)."""

    def __init__(self) -> None:
        self.totals: dict[str, Exact] = {}  # contact -> signed total of its rows
        self.contact_size: dict[str, Exact] = {}  # contact -> sum of |values|
        self.component_size: dict[str, Exact] = {}  # component -> sum of |values|
        self.component_contacts: dict[str, set[str]] = {}

    def add(self, contact: str, component: str, value: Exact) -> None:
        size = value if value >= 0 else -value
        self.totals[contact] = self.totals.get(contact, 0) + value
        self.contact_size[contact] = self.contact_size.get(contact, 0) + size
        self.component_size[component] = self.component_size.get(component, 0) + size
        self.component_contacts.setdefault(component, set()).add(contact)

    def merged(self, others: Iterable[_Contributions]) -> _Contributions:
        union = _Contributions()
        for other in (self, *others):
            for contact, total in other.totals.items():
                union.totals[contact] = union.totals.get(contact, 0) + total
            for contact, size in other.contact_size.items():
                union.contact_size[contact] = union.contact_size.get(contact, 0) + size
            for component, size in other.component_size.items():
                before = union.component_size.get(component, 0)
                union.component_size[component] = before + size
            for component, contacts in other.component_contacts.items():
                union.component_contacts.setdefault(component, set()).update(contacts)
        return union

    @property
    def contacts(self) -> int:
        return len(self.totals)

    def magnitude(self) -> Exact:
        return sum(self.contact_size.values(), 0)


def _dominated(largest: Exact, whole: Exact, p: Number) -> bool:
    return whole > 0 and largest * 100 > Fraction(p) * whole


def primary_reason(cell: _Contributions, statistic: Statistic, rules: Rules) -> Reason | None:
    """The (n, k) dominance rules for one cell; None when it may be published."""
    n = cell.contacts
    if n < rules.k:
        return Reason.TOO_FEW_CONTACTS
    if len(cell.component_contacts) < rules.min_components:
        return Reason.TOO_FEW_COMPONENTS
    # shares of the count: one contact is 1/n of it, a component the contacts it brings
    largest_component = max(len(c) for c in cell.component_contacts.values())
    if _dominated(1, n, rules.p) or _dominated(largest_component, n, rules.p):
        return Reason.DOMINATED
    if statistic is not Statistic.COUNT:
        whole = cell.magnitude()
        if _dominated(max(cell.contact_size.values()), whole, rules.p) or _dominated(
            max(cell.component_size.values()), whole, rules.p
        ):
            return Reason.DOMINATED
    return None


def _value(cell: _Contributions, statistic: Statistic, percentile: Number | None) -> Fraction:
    n = cell.contacts
    if statistic is Statistic.COUNT:
        return Fraction(n)
    total = Fraction(sum(cell.totals.values(), 0))
    if statistic is Statistic.SUM:
        return total
    if statistic is Statistic.MEAN:
        return total / n
    q = Fraction(50) if statistic is Statistic.MEDIAN else Fraction(percentile or 0)
    ordered = sorted(cell.totals.values())
    position = (n - 1) * q / 100
    low = floor(position)
    high = min(low + 1, n - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def protect(
    rows: Iterable[Row],
    statistic: Statistic,
    rules: Rules | None = None,
    *,
    dimensions: int | None = None,
    percentile: Number | None = None,
    margins: bool = True,
) -> Table:
    """The protected table of one aggregate query over `rows`.

    `dimensions` is the number of coordinates of each row's cell (read from the rows when
    omitted; required for an empty query). With `margins`, every total over any set of
    dimensions is a cell too (for two dimensions: row, column and grand totals); the grand
    total is always there, suppressed when there is nothing to publish.
    """
    rules = rules or Rules()
    if statistic is Statistic.PERCENTILE and (percentile is None or not 0 <= percentile <= 100):
        raise InvalidArgument(
            "a percentile between 0 and 100 is required",
            [FieldViolation("percentile", "between 0 and 100")],
        )
    rows = list(rows)
    if dimensions is None:
        if not rows:
            raise InvalidArgument("dimensions required", [FieldViolation("dimensions", "required")])
        dimensions = len(rows[0].cell)
    masks = list(product((False, True), repeat=dimensions)) if margins else [(False,) * dimensions]
    cells: dict[Key, _Contributions] = {}
    for row in rows:
        if len(row.cell) != dimensions:
            raise InvalidArgument("rows of one query share their dimensions", [])
        value = 1 if statistic is Statistic.COUNT else _exact(row.value)
        for mask in masks:
            key = tuple(None if total else v for v, total in zip(row.cell, mask, strict=True))
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = _Contributions()
            cell.add(row.contact, row.component, value)
    if margins:
        cells.setdefault((None,) * dimensions, _Contributions())

    suppressed = {
        key: reason
        for key, cell in cells.items()
        if (reason := primary_reason(cell, statistic, rules)) is not None
    }

    def size(key: Key) -> tuple[Exact, int]:
        cell = cells[key]
        return (cell.contacts if statistic is Statistic.COUNT else cell.magnitude(), cell.contacts)

    def publishable(hidden: Sequence[Key]) -> bool:
        union = cells[hidden[0]].merged(cells[k] for k in hidden[1:])
        return primary_reason(union, statistic, rules) is None

    for key in complete(list(cells), set(suppressed), size, publishable):
        suppressed[key] = Reason.COMPLEMENTARY

    ordered = sorted(cells, key=lambda k: (None in k, order(k)))
    return Table(
        statistic,
        dimensions,
        tuple(
            Cell(key, None, suppressed[key])
            if key in suppressed
            else Cell(key, _value(cells[key], statistic, percentile), None)
            for key in ordered
        ),
        MappingProxyType(
            {key: frozenset(cells[key].totals) for key in ordered if key not in suppressed}
        ),
    )
