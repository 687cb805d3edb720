"""The pressure dashboard's publication rules, on random months (hypothesis).

Each example builds a month person by person (the rollup's own accumulation), protects it
for the grouping and for one component, and checks from the outside: no published figure
covers fewer than k contacts; a published figure of several components has two of them and
none above p%; no published figure is dominated by one contact; and no suppressed figure can
be solved for from the published ones of its series (linear algebra in the test, treating
every margin over components or purposes as the sum of its cells, as the protection
promises, and a distribution's buckets as adding up to its total).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshkit.disclosure import Reason, Rules
from services.campaigns.pressure_publication import (
    Figure,
    Summary,
    primary_reason,
    protect,
)
from services.campaigns.pressure_rollup import (
    ALL,
    DISTRIBUTIONS,
    HeldBack,
    MonthFigures,
    Response,
    Sent,
    person_figures,
)

MONTH = "2026-10"
START = datetime(2026, 10, 1, tzinfo=UTC)
COMPONENTS = ("sciences", "lettres", "medecine", "droit")
PURPOSES = ("newsletter", "events")

mail = st.tuples(
    st.sampled_from(COMPONENTS), st.sampled_from(PURPOSES), st.integers(0, 30 * 24 - 1)
)
person = st.tuples(
    st.lists(mail, max_size=12),
    st.lists(st.tuples(st.sampled_from(COMPONENTS), st.sampled_from(PURPOSES)), max_size=2),
)
month = st.lists(person, min_size=0, max_size=60)
rules = st.builds(Rules, k=st.integers(2, 6), p=st.integers(50, 95), min_components=st.just(2))


def cells_of(people: list) -> dict:  # type: ignore[type-arg]
    figures = MonthFigures()
    for mails, held in people:
        sent = [Sent(c, p, START + timedelta(hours=h)) for c, p, h in mails]
        holds = [HeldBack(c, p, True, "pressure:weekly:2/604800s", START) for c, p in held]
        figures.add(person_figures(MONTH, sent, holds, [Response("withdrawn", *h) for h in held]))
    return {
        key: Summary(
            c.units, c.contacts, c.top_units, {n: (u, k) for n, (u, k) in c.components.items()}
        )
        for key, c in figures.cells.items()
    }


def relations(
    figures: list[Figure], distribution: bool, by_component: bool
) -> list[tuple[Figure, list[Figure]]]:
    """Each figure that adds others, with them: along component and purpose (margins taken
    as sums, as the protection promises), and a distribution's buckets to its total."""

    def place(f: Figure) -> tuple[str | None, ...]:
        return tuple(([f.component or None] if by_component else []) + [f.purpose or None])

    tops = [f for f in figures if not f.bucket]
    found = []
    for margin in tops:
        m = place(margin)
        for i, value in enumerate(m):
            if value is None:
                below = [
                    f
                    for f in tops
                    if place(f)[i] is not None
                    and all(
                        a == b for j, (a, b) in enumerate(zip(m, place(f), strict=True)) if j != i
                    )
                ]
                if below:
                    found.append((margin, below))
    if distribution:
        for total in tops:
            buckets = [f for f in figures if f.bucket and place(f) == place(total)]
            if buckets:
                found.append((total, buckets))
    return found


def solvable(figures: list[Figure], distribution: bool, by_component: bool) -> list[Figure]:
    """Hidden figures whose value follows from the published ones: Gaussian elimination
    over the hidden figures, one equation per relation (published figures are constants)."""
    hidden = [f for f in figures if not f.published]
    index = {id(f): i for i, f in enumerate(hidden)}
    basis: list[list[Fraction]] = []
    pivots: list[int] = []

    def reduce(row: list[Fraction]) -> list[Fraction]:
        for b, p in zip(basis, pivots, strict=True):
            if row[p]:
                factor = row[p] / b[p]
                row = [x - factor * y for x, y in zip(row, b, strict=True)]
        return row

    for margin, below in relations(figures, distribution, by_component):
        row = [Fraction(0)] * len(hidden)
        for f, sign in [(margin, 1), *((f, -1) for f in below)]:
            if id(f) in index:
                row[index[id(f)]] += sign
        row = reduce(row)
        nonzero = [i for i, x in enumerate(row) if x]
        if nonzero:
            basis.append(row)
            pivots.append(nonzero[0])
    return [
        f
        for i, f in enumerate(hidden)
        if not any(reduce([Fraction(int(j == i)) for j in range(len(hidden))]))
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(month, rules)
def test_no_published_figure_breaks_a_rule_and_none_hidden_can_be_solved(
    people: list,
    chosen: Rules,  # type: ignore[type-arg]
) -> None:
    cells = cells_of(people)
    for view in (None, "sciences"):
        figures = protect(cells, chosen, view)
        for figure in figures:
            key = (figure.series, figure.component, figure.purpose, figure.bucket)
            summary = cells[key]
            if view is not None:
                assert figure.component == view
            if not figure.published:
                assert figure.value is None
                continue
            assert figure.value == summary.units
            assert summary.contacts >= chosen.k
            assert summary.top_units * 100 <= chosen.p * summary.units
            if view is None and figure.component == ALL:
                assert len(summary.components) >= chosen.min_components
                # no component sent more than p% of the messages behind the figure
                sent = sum(units for units, _ in summary.components.values())
                for units, _ in summary.components.values():
                    assert units * 100 <= chosen.p * sent
        for series in {f.series for f in figures}:
            mine = [f for f in figures if f.series == series]
            assert solvable(mine, series in DISTRIBUTIONS, view is None) == []


def test_a_figure_of_several_components_needs_two_and_no_dominant_one() -> None:
    rules = Rules(k=5, p=80)
    alone = Summary(10, 10, 1, {"sciences": (10, 10)})
    assert primary_reason(alone, True, rules) is Reason.TOO_FEW_COMPONENTS
    # the same figure about one component is published: the 2-components rule is not its
    assert primary_reason(alone, False, rules) is None
    dominated = Summary(10, 10, 1, {"sciences": (9, 9), "lettres": (1, 1)})
    assert primary_reason(dominated, True, rules) is Reason.DOMINATED
    shared = Summary(10, 10, 1, {"sciences": (8, 8), "lettres": (2, 2)})
    assert primary_reason(shared, True, rules) is None
    assert primary_reason(Summary(4, 4, 1, {}), False, rules) is Reason.TOO_FEW_CONTACTS
    # one contact behind most of the deferrals
    assert primary_reason(Summary(50, 6, 45, {}), False, rules) is Reason.DOMINATED


def test_a_group_below_k_shows_nothing_of_itself() -> None:
    people = [([("tiny", "newsletter", 5)], [])] * 3  # three people of one small component
    people += [
        ([("sciences", "newsletter", h), ("lettres", "newsletter", h)], []) for h in range(8)
    ]
    cells = cells_of(people)
    mine = [f for f in protect(cells, Rules(), "tiny")]
    assert mine and not any(f.published for f in mine)
    grouping = protect(cells, Rules(), None)
    assert not any(f.published for f in grouping if f.component == "tiny")
    # one of the two others hides beside it (complementary), the other stays published
    assert any(f.published for f in grouping if f.component in ("sciences", "lettres"))
    assert any(
        f.reason is Reason.COMPLEMENTARY for f in grouping if f.component in ("sciences", "lettres")
    )
