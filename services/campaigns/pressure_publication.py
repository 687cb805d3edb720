"""Which figures of the pressure dashboard may be published: contacts' disclosure rules.

Input: the month's pre-aggregated cells (pressure_rollup.py): per series, component,
purpose and bucket, the figure (units), the distinct contacts behind it, the largest part
of one contact and, for a figure that adds several components, what each component
brings. Output: each figure published with its value, or suppressed with a reason. Plain
Python, no I/O. docs/pressure-dashboard.md explains the choices; in short:

1. Primary rules, per figure: at least `k` contacts; one contact never above `p`% of the
   figure. A figure that adds several components (component "" in the grouping's view)
   also needs `min_components` contributing components (2) and no component above `p`%
   of the messages sent to the people behind it (a person mailed by two components is
   one of each one's contacts: the messages say who weighs). A figure about one
   component (its own figures, whether in its own view or in the grouping's) gets the k
   rule and the contact dominance only: it is about one component, and that
   component's staff may see it.
2. Complementary suppression, per series, over the component x purpose table with its
   margins ("" = None): no hidden figure is left alone in a line (a margin and the
   figures it adds), the hidden figures of a line with a published margin together pass
   the primary rules, and an exact rank test (the contacts service's secondary
   suppression, shared) proves that no hidden figure follows from the published ones. A
   margin here (contacts over several purposes, say) is not the sum of its cells, since
   one person can be in several: treating it as one is the cautious side. A
   distribution's buckets do add up to its total: each (component, purpose) distribution
   is also a line of its own (see `_complete_distribution`).
3. A combination with no contact at all is absent from the table: zero is nobody's figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from meshkit.disclosure import Number, Reason, Rules
from meshkit.disclosure.secondary import complete
from services.campaigns.pressure_rollup import ALL, DISTRIBUTIONS, SERIES

Key = tuple[str | None, ...]


@dataclass(frozen=True)
class Summary:
    """One pre-aggregated figure: what the rules need to know of it, and no one in it."""

    units: int
    contacts: int
    top_units: int
    # a figure of several components: what each one brings (messages sent to the people
    # behind the figure, contacts of its own among them)
    components: Mapping[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    series: str
    component: str  # "" : every component together
    purpose: str  # "" : every purpose together
    bucket: str  # "" : not a distribution's bucket
    value: int | None  # None when suppressed
    reason: Reason | None  # None when published

    @property
    def published(self) -> bool:
        return self.reason is None


CellKey = tuple[str, str, str, str]  # series, component, purpose, bucket ('' = all / none)


def _dominated(part: int, whole: int, p: Number) -> bool:
    return whole > 0 and part * 100 > p * whole


def primary_reason(summary: Summary, several: bool, rules: Rules) -> Reason | None:
    """The primary rules for one figure (or the union of hidden ones); None: publishable."""
    if summary.contacts < rules.k:
        return Reason.TOO_FEW_CONTACTS
    if several:
        if sum(1 for _, contacts in summary.components.values() if contacts) < (
            rules.min_components
        ):
            return Reason.TOO_FEW_COMPONENTS
        # a person mailed by several components is in each one's contacts: a component's
        # share is the messages it sent to the people behind the figure
        sent = sum(units for units, _ in summary.components.values())
        if any(_dominated(units, sent, rules.p) for units, _ in summary.components.values()):
            return Reason.DOMINATED
    if _dominated(1, summary.contacts, rules.p) or _dominated(
        summary.top_units, summary.units, rules.p
    ):
        return Reason.DOMINATED
    return None


def _union(summaries: Sequence[Summary], disjoint: bool) -> Summary:
    """What the hidden figures of a line add up to: exact when they share no contact (a
    distribution's buckets), else a bound that can only hide more (as contacts' core does):
    the fewest contacts the union may have, the largest part one contact may have."""
    components: dict[str, tuple[int, int]] = {}
    for s in summaries:
        for name, (units, contacts) in s.components.items():
            before = components.get(name, (0, 0))
            components[name] = (before[0] + units, before[1] + contacts)
    return Summary(
        sum(s.units for s in summaries),
        sum(s.contacts for s in summaries) if disjoint else max(s.contacts for s in summaries),
        max(s.top_units for s in summaries) if disjoint else sum(s.top_units for s in summaries),
        components,
    )


def protect(
    cells: Mapping[CellKey, Summary], rules: Rules, component: str | None = None
) -> list[Figure]:
    """The month's figures for the grouping (component None) or one component's view.

    In one component's view only that component's figures are there; for the grouping,
    every component's and every total.
    """
    figures: list[Figure] = []
    for series in SERIES:
        figures.extend(_protect_series(series, cells, rules, component))
    return figures


def _protect_series(
    series: str, cells: Mapping[CellKey, Summary], rules: Rules, component: str | None
) -> list[Figure]:
    distribution = series in DISTRIBUTIONS
    table: dict[Key, tuple[CellKey, Summary]] = {}
    for cell_key, summary in cells.items():
        s, c, p, b = cell_key
        if s != series or (component is not None and c != component):
            continue
        coordinates: list[str | None] = [] if component is not None else [c or None]
        coordinates.append(p or None)
        if distribution:
            coordinates.append(b or None)
        if c != ALL:  # a figure of one component: all of it is that component's
            summary = Summary(
                summary.units,
                summary.contacts,
                summary.top_units,
                {c: (summary.units, summary.contacts)},
            )
        table[tuple(coordinates)] = (cell_key, summary)
    if not table:
        return []

    def several(key: Key) -> bool:
        return component is None and key[0] is None

    suppressed: dict[Key, Reason] = {}
    for key, (_, summary) in table.items():
        reason = primary_reason(summary, several(key), rules)
        if reason is not None:
            suppressed[key] = reason

    def size(key: Key) -> int:
        return table[key][1].contacts

    def publishable(margin: Key, line: Sequence[Key], hidden: Sequence[Key]) -> bool:
        # disjoint: the margin's contacts are exactly its cells' (no one in two of them)
        disjoint = table[margin][1].contacts == sum(table[k][1].contacts for k in line)
        union = _union([table[k][1] for k in hidden], disjoint)
        spread = component is None and (
            any(k[0] is None for k in hidden) or len({k[0] for k in hidden}) > 1
        )
        return primary_reason(union, spread, rules) is None

    if not distribution:
        for key in complete(list(table), set(suppressed), size, publishable):
            suppressed[key] = Reason.COMPLEMENTARY
    else:
        _complete_distribution(table, suppressed, size, publishable)
    found = []
    for key, ((s, c, p, b), summary) in sorted(table.items(), key=lambda e: e[1][0]):
        reason = suppressed.get(key)
        value = None if reason is not None else summary.units
        found.append(Figure(s, c, p, b, value, reason))
    return found


def _complete_distribution(
    table: Mapping[Key, tuple[CellKey, Summary]],
    suppressed: dict[Key, Reason],
    size: Callable[[Key], int],
    publishable: Callable[[Key, Sequence[Key], Sequence[Key]], bool],
) -> None:
    """Complementary suppression of a distribution, along the relations that hold.

    A distribution's buckets add up to its total, so each (component, purpose) is one
    line: its buckets and its total. Across components or purposes the figures do not
    add up (a person's bucket for the grouping is not the sum of their buckets for each
    component), so the totals alone form the component x purpose table, as for the other
    series. The two are completed in turn until neither hides more: each bucket appears
    in its own line only, so together they let no hidden figure be solved for.
    """
    # each step sees its own keys: the totals as (component, purpose), a line as (bucket,)
    totals = {k[:-1]: k for k in table if k[-1] is None}
    lines: dict[Key, dict[Key, Key]] = {}
    for key in table:
        lines.setdefault(key[:-1], {})[key[-1:]] = key

    def step(keys: Mapping[Key, Key]) -> None:
        hidden = {short for short, full in keys.items() if full in suppressed}
        chosen = complete(
            list(keys),
            hidden,
            lambda short: size(keys[short]),
            lambda margin, line, shorts: publishable(
                keys[margin], [keys[k] for k in line], [keys[k] for k in shorts]
            ),
        )
        for short in chosen:
            suppressed[keys[short]] = Reason.COMPLEMENTARY

    while True:
        before = len(suppressed)
        step(totals)
        for keys in lines.values():
            step(keys)
        if len(suppressed) == before:
            return
