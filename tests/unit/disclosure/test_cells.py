"""Disclosure control of one table: what is published obeys the rules and hides what it must.

Everything the tests check is recomputed here from the raw rows, independently of
meshkit.disclosure: the contacts and components behind a cell, its dominance
shares, its value, and (with a small exact Gaussian elimination of the tests' own) whether
a suppressed cell can be solved for from the published cells and margins.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshkit.disclosure import (
    CellSummary,
    Key,
    Reason,
    Row,
    Rules,
    Statistic,
    Table,
    protect,
    protect_summaries,
    sketch_of,
)
from meshkit.disclosure.cells import primary_reason, union
from meshkit.disclosure.secondary import _breakers, determined
from meshkit.errors import InvalidArgument
from tests.support.exact_rank import rank

SECRET = "cells-secret-for-tests"

CONTACTS = [f"c{i:02d}" for i in range(14)]
COMPONENTS = ["sciences", "lettres", "droit", "medecine"]
VALUES = [["a", "b", "c"], ["2023", "2024", "2025"]]

# --- the tests' own arithmetic ----------------------------------------------------------------


def covers(key: Key, cell: tuple[str, ...]) -> bool:
    return all(k is None or k == v for k, v in zip(key, cell, strict=True))


def behind(rows: list[Row], key: Key) -> list[Row]:
    return [r for r in rows if covers(key, r.cell)]


def solvable(table: Table) -> list[Key]:
    """Suppressed cells whose value the published cells and margins give exactly.

    Unknowns: the suppressed interior cells. Each published margin is an equation over the
    unknowns it covers. A cell is solvable iff adding its vector leaves the rank unchanged.
    """
    unknowns = [c.key for c in table.suppressed if not c.is_margin]

    def vector(key: Key) -> list[Fraction]:
        return [Fraction(int(covers(key, u))) for u in unknowns]  # type: ignore[arg-type]

    equations = [vector(c.key) for c in table.published if c.is_margin]
    base = rank(equations)
    return [c.key for c in table.suppressed if rank([*equations, vector(c.key)]) == base]


def breaks_rules(rows: list[Row], statistic: Statistic, rules: Rules) -> str | None:
    contacts = {r.contact for r in rows}
    if len(contacts) < rules.k:
        return "too few contacts"
    components = {r.component for r in rows}
    if len(components) < rules.min_components:
        return "too few components"
    for component in components:
        theirs = {r.contact for r in rows if r.component == component}
        if len(theirs) * 100 > Fraction(rules.p) * len(contacts):
            return "a component dominates the count"
    if 100 > Fraction(rules.p) * len(contacts):
        return "one contact dominates the count"
    if statistic is not Statistic.COUNT:
        whole = sum(abs(Fraction(r.value or 0)) for r in rows)
        for name, pick in (("contact", "contact"), ("component", "component")):
            for who in {getattr(r, pick) for r in rows}:
                part = sum(abs(Fraction(r.value or 0)) for r in rows if getattr(r, pick) == who)
                if whole and part * 100 > Fraction(rules.p) * whole:
                    return f"a {name} dominates the sum"
    return None


def expected_value(rows: list[Row], statistic: Statistic, q: int) -> Fraction:
    per_contact: dict[str, Fraction] = {}
    for r in rows:
        per_contact[r.contact] = per_contact.get(r.contact, Fraction(0)) + Fraction(r.value or 0)
    n = len(per_contact)
    total = sum(per_contact.values(), Fraction(0))
    if statistic is Statistic.COUNT:
        return Fraction(n)
    if statistic is Statistic.SUM:
        return total
    if statistic is Statistic.MEAN:
        return total / n
    q = 50 if statistic is Statistic.MEDIAN else q
    xs = sorted(per_contact.values())
    # linear interpolation between closest ranks, spelled out differently from the library
    h = Fraction((n - 1) * q, 100)
    below = xs[int(h)]
    above = xs[min(int(h) + 1, n - 1)]
    return below + (h - int(h)) * (above - below)


# --- random queries ---------------------------------------------------------------------------


@st.composite
def queries(draw: st.DrawFn) -> tuple[list[Row], int, Statistic, Rules, int]:
    dims = draw(st.integers(0, 2))
    owners = {c: draw(st.sampled_from(COMPONENTS)) for c in CONTACTS}
    rows = draw(
        st.lists(
            st.builds(
                Row,
                contact=st.sampled_from(CONTACTS),
                component=st.sampled_from(COMPONENTS),
                cell=st.tuples(*(st.sampled_from(VALUES[d]) for d in range(dims))),
                value=st.integers(0, 50) | st.sampled_from([0, 1000, -30]),
            ),
            max_size=45,
        )
    )
    if draw(st.booleans()):  # most contacts come through their own component
        rows = [Row(r.contact, owners[r.contact], r.cell, r.value) for r in rows]
    rules = Rules(
        k=draw(st.integers(1, 6)),
        min_components=draw(st.integers(1, 3)),
        p=draw(st.sampled_from([50, 60, 75, 80, 90, 100])),
    )
    return rows, dims, draw(st.sampled_from(list(Statistic))), rules, draw(st.integers(0, 100))


def check(
    rows: list[Row], dims: int, statistic: Statistic, rules: Rules, q: int, table: Table
) -> None:
    """Everything a protected table promises, recomputed from the rows."""
    present = {r.cell for r in rows}
    expected_keys = {
        tuple(None if m else v for v, m in zip(cell, mask, strict=True))
        for cell in present
        for mask in product((False, True), repeat=dims)
    } | {(None,) * dims}
    assert {c.key for c in table.cells} == expected_keys

    for cell in table.published:
        mine = behind(rows, cell.key)
        assert breaks_rules(mine, statistic, rules) is None, cell
        assert cell.value == expected_value(mine, statistic, q)
    for cell in table.suppressed:
        assert cell.value is None and cell.key not in table.sketches
        if cell.reason is not Reason.COMPLEMENTARY:
            assert breaks_rules(behind(rows, cell.key), statistic, rules) is not None

    # (an empty query's grand total covers nobody: it is zero, and nothing to hide)
    assert [key for key in solvable(table) if behind(rows, key)] == []

    # the hidden cells of a line whose margin is published add up to a publishable group
    # (the group's contacts counted once: cells of a line may share contacts)
    for margin in table.published:
        for i, v in enumerate(margin.key):
            if v is not None:
                continue
            below = [
                c
                for c in table.cells
                if c.key[:i] + (None,) + c.key[i + 1 :] == margin.key and c.key[i] is not None
            ]
            hidden = [c for c in below if not c.published]
            if hidden:
                assert len(hidden) >= 2
                group = [r for c in hidden for r in behind(rows, c.key)]
                assert breaks_rules(group, statistic, rules) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries())
def test_published_cells_obey_the_rules_and_no_hidden_cell_can_be_solved_for(
    query: tuple[list[Row], int, Statistic, Rules, int],
) -> None:
    rows, dims, statistic, rules, q = query
    table = protect(rows, statistic, rules, dimensions=dims, percentile=q, sketch_secret=SECRET)
    check(rows, dims, statistic, rules, q, table)
    for cell in table.published:
        contacts = {r.contact for r in behind(rows, cell.key)}
        assert table.sketches[cell.key] == sketch_of(SECRET, contacts, rules.k)


def own_summaries(
    rows: list[Row], dims: int, statistic: Statistic, q: int
) -> dict[Key, CellSummary]:
    """One summary per cell and margin, as the SQL of the contacts service would give them,
    computed here from the rows without the library."""
    keys = {
        tuple(None if m else v for v, m in zip(r.cell, mask, strict=True))
        for r in rows
        for mask in product((False, True), repeat=dims)
    } | {(None,) * dims}
    summaries: dict[Key, CellSummary] = {}
    for key in keys:
        mine = behind(rows, key)
        contacts = {r.contact for r in mine}
        parts = {
            comp: (
                {r.contact for r in mine if r.component == comp},
                sum(abs(Fraction(r.value or 0)) for r in mine if r.component == comp),
            )
            for comp in {r.component for r in mine}
        }
        if statistic is Statistic.COUNT:
            summaries[key] = CellSummary(
                len(contacts),
                len(contacts),
                len(contacts),
                1 if contacts else 0,
                {comp: (len(who), len(who)) for comp, (who, _) in parts.items()},
            )
            continue
        size = {
            c: sum(abs(Fraction(r.value or 0)) for r in mine if r.contact == c) for c in contacts
        }
        summaries[key] = CellSummary(
            len(contacts),
            sum((Fraction(r.value or 0) for r in mine), Fraction(0)),
            sum(size.values(), Fraction(0)),
            max(size.values(), default=Fraction(0)),
            {comp: (len(who), magnitude) for comp, (who, magnitude) in parts.items()},
            expected_value(mine, statistic, q)
            if mine and statistic in (Statistic.MEDIAN, Statistic.PERCENTILE)
            else None,
        )
    return summaries


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries(), st.booleans())
def test_summaries_from_sql_obey_the_rules_even_when_the_cells_of_a_line_share_contacts(
    query: tuple[list[Row], int, Statistic, Rules, int], by_component: bool
) -> None:
    """The summary path, fed by summaries the library did not compute. With the contributing
    component as a dimension, a contact reached through two components sits in two cells of
    one line: the union of hidden cells is then a bound, and must still hold."""
    rows, dims, statistic, rules, q = query
    if by_component:
        rows = [Row(r.contact, r.component, (*r.cell, r.component), r.value) for r in rows]
        dims += 1
    summaries = own_summaries(rows, dims, statistic, q)
    table = protect_summaries(summaries, statistic, rules, dimensions=dims, percentile=q)
    check(rows, dims, statistic, rules, q, table)
    assert table.sketches == {}  # no sketch was given


SIDE = 5
cells_of_grid = st.tuples(st.integers(0, SIDE - 1), st.integers(0, SIDE - 1))


@settings(max_examples=50, deadline=None)
@given(
    st.permutations(range(SIDE)),
    st.permutations(range(SIDE)),
    st.sets(cells_of_grid, max_size=2),
    st.sets(cells_of_grid, max_size=3),
)
def test_grids_of_tiny_cells_in_cycles_and_bridges_leave_no_hidden_cell_solvable(
    across: list[int], down: list[int], extra: set[tuple[int, int]], empty: set[tuple[int, int]]
) -> None:
    """Tiny cells on two rectangles (each line holds two) joined by one tiny cell: the line
    rule is content, yet the joining cell is the sum of published figures (it lies on no
    cycle); the rank test must find it. Extra tiny and empty cells vary the picture."""
    r1, r2, r3, r4 = across[:4]
    c1, c2, c3, c4 = down[:4]
    tiny = {(r, c) for r in (r1, r2) for c in (c1, c2)} | {
        (r, c) for r in (r3, r4) for c in (c3, c4)
    }
    tiny |= {(r1, c3)} | extra
    rows: list[Row] = []
    for r, c in product(range(SIDE), repeat=2):
        if (r, c) not in empty or (r, c) in tiny:
            rows += crowd((f"r{r}", f"c{c}"), 1 if (r, c) in tiny else 3, 0)
    table = protect(rows, Statistic.COUNT, Rules(k=2, min_components=1, p=100))
    assert solvable(table) == []
    for cell in table.published:
        assert cell.value is not None and cell.value >= 2


@settings(max_examples=40, deadline=None)
@given(queries())
def test_sum_mean_median_and_percentile_share_one_pattern(
    query: tuple[list[Row], int, Statistic, Rules, int],
) -> None:
    rows, dims, _, rules, q = query
    patterns = {
        s: [
            (c.key, c.published)
            for c in protect(rows, s, rules, dimensions=dims, percentile=q).cells
        ]
        for s in (Statistic.SUM, Statistic.MEAN, Statistic.MEDIAN, Statistic.PERCENTILE)
    }
    assert len({tuple(p) for p in patterns.values()}) == 1


# --- examples ---------------------------------------------------------------------------------


def crowd(cell: tuple[str, ...], n: int, start: int, value: int = 10) -> list[Row]:
    """n contacts in `cell`, alternately from sciences and lettres."""
    return [Row(f"{cell}-{start + i}", COMPONENTS[i % 2], cell, value) for i in range(n)]


def test_a_small_cell_is_suppressed_with_the_smallest_other_cell_of_its_line() -> None:
    rows = crowd(("a",), 8, 0) + crowd(("b",), 2, 0) + crowd(("c",), 6, 0) + crowd(("d",), 9, 0)
    table = protect(rows, Statistic.COUNT)
    assert table.cell(("b",)).reason is Reason.TOO_FEW_CONTACTS
    assert table.cell(("c",)).reason is Reason.COMPLEMENTARY
    assert table.cell(("a",)).value == 8 and table.cell(("d",)).value == 9
    assert table.cell((None,)).value == 25


def test_a_component_or_a_contact_that_dominates_a_sum_hides_the_cell() -> None:
    rows = crowd(("a",), 6, 0) + [Row("big", "droit", ("a",), 10_000)]
    rows += crowd(("b",), 6, 0) + crowd(("c",), 6, 10)
    table = protect(rows, Statistic.SUM)
    assert table.cell(("a",)).reason is Reason.DOMINATED
    # the count of the same cells is not about values: published
    assert protect(rows, Statistic.COUNT).cell(("a",)).value == 7
    one_component = [Row(f"x{i}", "droit", ("a",), 1) for i in range(9)]
    assert protect(one_component, Statistic.COUNT).cell(("a",)).reason is (
        Reason.TOO_FEW_COMPONENTS
    )
    mostly_one = one_component + [Row("y", "lettres", ("a",), 1)]
    assert protect(mostly_one, Statistic.COUNT).cell(("a",)).reason is Reason.DOMINATED


def test_a_cell_left_solvable_by_the_line_rule_is_caught_by_the_rank_test() -> None:
    """Two 2x2 blocks of hidden cells joined by one: each line holds two, yet the joining
    cell is the sum of published figures (it lies on no cycle)."""
    rules = Rules(k=2, min_components=1, p=100)
    lone = {(1, 1), (1, 2), (2, 1), (2, 2), (3, 3), (3, 4), (4, 3), (4, 4), (1, 3)}
    rows: list[Row] = []
    for r, c in product(range(1, 5), repeat=2):
        cell = (f"r{r}", f"c{c}")
        rows += crowd(cell, 1 if (r, c) in lone else 3, 0)
    primary_only = [(f"r{r}", f"c{c}") for r, c in lone]
    keys = {c.key for c in protect(rows, Statistic.COUNT, rules).cells}
    assert ("r1", "c3") in determined(primary_only, keys)

    table = protect(rows, Statistic.COUNT, rules)
    assert {c.key for c in table.suppressed if c.reason is Reason.TOO_FEW_CONTACTS} == set(
        primary_only
    )
    assert len(table.suppressed) > len(lone)
    assert solvable(table) == []


def test_no_margin_repeats_a_hidden_single_cell() -> None:
    rows = crowd(("a", "2024"), 2, 0) + crowd(("b", "2024"), 7, 0) + crowd(("b", "2025"), 7, 10)
    table = protect(rows, Statistic.COUNT)
    assert not table.cell(("a", None)).published  # row a is that one cell
    assert solvable(table) == []


def test_an_empty_query_publishes_nothing() -> None:
    table = protect([], Statistic.SUM, dimensions=1)
    assert [(c.key, c.reason) for c in table.cells] == [((None,), Reason.TOO_FEW_CONTACTS)]


def test_rules_and_statistics_are_checked() -> None:
    with pytest.raises(InvalidArgument) as error:
        Rules(k=0, p=120)
    assert {v.field for v in error.value.violations} == {"k", "p"}
    with pytest.raises(InvalidArgument):
        protect(crowd(("a",), 6, 0), Statistic.PERCENTILE)
    with pytest.raises(InvalidArgument):
        protect([Row("x", "droit", ("a",))], Statistic.SUM)
    with pytest.raises(InvalidArgument):
        protect([Row("x", "droit", ("a",), 0.1)], Statistic.SUM)  # type: ignore[arg-type]


def test_decimal_values_add_up_exactly() -> None:
    rows = [Row(f"x{i}", COMPONENTS[i % 3], ("a",), Decimal("0.10")) for i in range(10)]
    table = protect(rows, Statistic.SUM)
    assert table.cell(("a",)).value == 1
    assert protect(rows, Statistic.MEAN).cell((None,)).value == Fraction(1, 10)


def test_hidden_cells_of_a_disjoint_line_are_counted_together() -> None:
    """a and b (3 contacts each) are hidden; together they make 6 >= k: nothing more."""
    rows = crowd(("a",), 3, 0) + crowd(("b",), 3, 0) + crowd(("c",), 9, 0) + crowd(("d",), 9, 0)
    table = protect(rows, Statistic.COUNT, Rules(k=5))
    assert [c.key for c in table.suppressed] == [("a",), ("b",)]
    assert table.cell((None,)).value == 24


def test_hidden_cells_sharing_their_contacts_are_not_counted_twice() -> None:
    """By component: the same 3 contacts are in the sciences and the lettres cells. Their
    union is 3 contacts, not 6: one more cell must be hidden, else the total minus the
    published cells gives the figure of 3 contacts."""
    rules = Rules(k=5, min_components=1, p=100)
    rows = [Row(f"p{i}", comp, (comp,), 10) for i in range(3) for comp in ("sciences", "lettres")]
    rows += [Row(f"d{i}", "droit", ("droit",), 10) for i in range(9)]
    rows += [Row(f"m{i}", "medecine", ("medecine",), 10) for i in range(12)]
    for statistic in (Statistic.COUNT, Statistic.SUM):
        table = protect(rows, statistic, rules)
        assert table.cell(("sciences",)).reason is Reason.TOO_FEW_CONTACTS
        assert table.cell(("droit",)).reason is Reason.COMPLEMENTARY  # the smaller one
        assert table.cell(("medecine",)).published and table.cell((None,)).published


overlapping = st.lists(
    st.lists(
        st.tuples(st.integers(0, 7), st.sampled_from(COMPONENTS), st.integers(-20, 60)),
        min_size=1,
        max_size=10,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(overlapping, st.sampled_from(list(Statistic)[:2]), st.integers(1, 6), st.integers(1, 3))
def test_the_bound_for_cells_that_share_contacts_never_publishes_what_the_exact_union_hides(
    cells: list[list[tuple[int, str, int]]], statistic: Statistic, k: int, min_components: int
) -> None:
    rules = Rules(k=k, min_components=min_components, p=75)
    rows = [
        Row(f"c{who}", comp, (str(i),), v) for i, cell in enumerate(cells) for who, comp, v in cell
    ]
    summaries = [
        own_summaries(behind(rows, (str(i),)), 1, statistic, 50)[(str(i),)]
        for i in range(len(cells))
    ]
    bound = union(summaries, disjoint=False)
    if primary_reason(bound, statistic, rules) is None:
        assert breaks_rules(rows, statistic, rules) is None
    contacts = [{r.contact for r in behind(rows, (str(i),))} for i in range(len(cells))]
    if sum(map(len, contacts)) == len(set().union(*contacts)):  # disjoint: exact
        exact = union(summaries, disjoint=True)
        assert (primary_reason(exact, statistic, rules) is None) == (
            breaks_rules(rows, statistic, rules) is None
        )


@settings(max_examples=60, deadline=None)
@given(
    st.sets(cells_of_grid, min_size=1, max_size=9), st.sets(st.integers(0, 2 * SIDE), max_size=3)
)
def test_the_one_elimination_test_agrees_with_a_fresh_rank_test_for_every_candidate(
    tiny: set[tuple[int, int]], margins: set[int]
) -> None:
    """Which published cell, hidden, frees a determined cell: `_breakers` answers for all
    candidates from one elimination; a fresh rank test per candidate is the reference."""
    keys: list[Key] = [(f"r{r}", f"c{c}") for r, c in product(range(SIDE), repeat=2)]
    keys += [(f"r{r}", None) for r in range(SIDE)] + [(None, f"c{c}") for c in range(SIDE)]
    keys += [(None, None)]
    hidden: set[Key] = {(f"r{r}", f"c{c}") for r, c in tiny}
    hidden |= {keys[SIDE * SIDE + i] for i in margins}
    for target in determined(hidden, keys):
        breaks = _breakers(target, hidden, keys)
        assert breaks is not None
        for key in keys:
            if key not in hidden:
                assert breaks(key) == (not determined([*hidden, key], keys, among=[target]))
