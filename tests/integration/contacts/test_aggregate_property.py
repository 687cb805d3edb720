"""The Aggregate use case for all inputs: random datasets, field policies, rules and queries.

For each drawn case the test loads a world into a real database, asks as a random
component, and checks the answer from outside, recounting from the raw values the caller
may aggregate (its own recomputation of the policy, not the service's SQL):

- every published cell covers at least k contacts and two contributing components, and no
  component holds more than p% of its magnitude (for a count, of its contacts);
- no suppressed cell can be computed from the published cells of the same answer: the
  suppressed interior cells are the unknowns, each published margin an equation over them,
  and a suppressed cell is solvable when its vector is in the span of the equations (exact
  rank with fractions, in the test);
- a refusal is a refusal (PermissionDenied), never a table, and names no value.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from meshkit.db import Database
from meshkit.disclosure import Rules, Statistic
from meshkit.errors import PermissionDenied
from services.contacts.aggregate_snapshots import SnapshotRow
from services.contacts.aggregates import AggregateQuery, Answer, Scope
from services.contacts.indicators_admin import set_disclosure_rules
from services.contacts.models import AggregateAuditRow
from services.contacts.policy import Audience, FieldPolicy, Grant, Viewer
from tests.integration.contacts.aggregate_world import (
    ADMIN,
    COMPONENTS,
    answered_cells,
    ask,
    contacts_database,
    load,
    oracle_rows,
    principal,
    random_world,
)
from tests.support.exact_rank import rank

Key = tuple[str | None, ...]
DIMENSIONS = ("sector", "year", "kind", "component")
GRANTS = {
    "grouping": (Grant(Audience.GROUPING),),
    "members": (Grant(Audience.MEMBERS),),
    "none": (),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with contacts_database(request.param, "contacts_aggregate_property") as database:
        yield database


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, dict[str, str], AggregateQuery, Rules, str]:
    seed = draw(st.integers(0, 10_000))
    # mostly shared, so that most answers publish something worth checking
    shared = st.sampled_from(["grouping", "grouping", "grouping", "members", "none"])
    grants = {c: draw(shared) for c in COMPONENTS}
    statistic = draw(st.sampled_from([Statistic.COUNT, Statistic.SUM, Statistic.MEAN]))
    dimensions = tuple(draw(st.lists(st.sampled_from(DIMENSIONS), max_size=2, unique=True)))
    measure = draw(st.sampled_from(["*.taxe", ""])) if statistic is Statistic.COUNT else "*.taxe"
    scope = draw(st.sampled_from([Scope.GROUPING, Scope.REACH]))
    rules = Rules(k=draw(st.integers(2, 6)), min_components=2, p=draw(st.integers(60, 100)))
    caller = draw(st.sampled_from(COMPONENTS))
    return seed, grants, AggregateQuery(measure, statistic, 0, dimensions, scope), rules, caller


def covers(key: Key, cell: tuple[str, ...]) -> bool:
    return all(k is None or k == v for k, v in zip(key, cell, strict=True))


def solvable(answer: Answer) -> list[Key]:
    """Suppressed cells that the published margins and interior cells give exactly."""
    listed = answered_cells(answer)
    hidden = [key for key, value, _ in listed if not value]
    unknowns = [key for key in hidden if None not in key]

    def vector(key: Key) -> list[Fraction]:
        return [Fraction(int(covers(key, u))) for u in unknowns]  # type: ignore[arg-type]

    equations = [vector(key) for key, value, _ in listed if value and None in key]
    base = rank(equations)
    return [key for key in hidden if unknowns and rank([*equations, vector(key)]) == base]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_no_published_cell_breaks_the_rules_and_no_hidden_cell_is_solvable(
    db: Database, case: tuple[int, dict[str, str], AggregateQuery, Rules, str]
) -> None:
    seed, grants, query, rules, caller = case
    world = random_world(seed, contacts=random.Random(seed).randint(40, 160))
    for component, grant in grants.items():
        name = f"{component}.taxe"
        world.policies[name] = FieldPolicy(
            name, read=(Grant(Audience.OWNER),), aggregate=GRANTS[grant]
        )
    load(db, world)
    set_disclosure_rules(db, ADMIN, rules.k, int(rules.p), rules.min_components)
    with db.transaction() as session:  # each case stands alone: no history, no snapshot
        session.execute(delete(AggregateAuditRow))
        session.execute(delete(SnapshotRow))
    who = principal(caller)
    try:
        answer = ask(db, who, query)
    except PermissionDenied as refused:
        assert "MARKER" not in str(refused) and "987654321" not in str(refused)
        event("refused")
        return
    event(f"answered, {sum(1 for _, v, _ in answered_cells(answer) if v)} published")
    viewer = Viewer(who.subject, who.component, roles=who.roles)
    rows = oracle_rows(world, viewer, query)
    for key, value, _ in answered_cells(answer):
        if not value:
            continue
        inside = [r for r in rows if covers(key, r.cell)]
        contacts = {r.contact for r in inside}
        assert len(contacts) >= rules.k, (key, value)
        assert len({r.component for r in inside}) >= rules.min_components, (key, value)
        sizes: dict[str, int] = {}
        for r in inside:
            size = 1 if query.statistic is Statistic.COUNT else abs(int(r.value or 0))
            sizes[r.component] = sizes.get(r.component, 0) + size
        if query.statistic is Statistic.COUNT:
            per_component = {c: len({r.contact for r in inside if r.component == c}) for c in sizes}
            assert max(per_component.values()) * 100 <= rules.p * len(contacts), (key, value)
        elif sum(sizes.values()):
            assert max(sizes.values()) * 100 <= rules.p * sum(sizes.values()), (key, value)
    assert solvable(answer) == []
