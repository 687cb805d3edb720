"""The Aggregate use case on a real database (PostgreSQL: the one GROUPING SETS statement;
SQLite: the portable path), against a plain-Python recomputation from the raw values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import delete, func, select

from meshkit.db import Database
from meshkit.disclosure import Reason, Rules, Statistic
from meshkit.errors import InvalidArgument, PermissionDenied
from services.contacts.aggregates import AggregateQuery, Scope
from services.contacts.indicators_admin import (
    Dimension,
    Source,
    put_dimension,
    set_disclosure_rules,
)
from services.contacts.models import AggregateAuditRow, ValueRow
from services.contacts.policy import Viewer
from tests.integration.contacts.aggregate_world import (
    ADMIN,
    answered_cells,
    ask,
    contacts_database,
    expected_cells,
    load,
    oracle,
    oracle_rows,
    principal,
    random_world,
)

GROUP = Scope.GROUPING
RULES = Rules(k=5, min_components=2, p=80)


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with contacts_database(request.param, "contacts_aggregates") as database:
        yield database


def _covers(key: tuple[str | None, ...], cell: tuple[str, ...]) -> bool:
    return all(k is None or k == v for k, v in zip(key, cell, strict=True))


def forget_history(db: Database) -> None:
    with db.transaction() as session:
        session.execute(delete(AggregateAuditRow))


def _viewer(component: str | None, *roles: str) -> Viewer:
    who = principal(component, *roles)
    return Viewer(who.subject, who.component, roles=who.roles)


QUERIES = [
    AggregateQuery("*.taxe", Statistic.SUM, 0, ("sector", "year"), Scope.GROUPING),
    AggregateQuery("*.taxe", Statistic.MEAN, 0, ("sector",), Scope.GROUPING),
    AggregateQuery("*.taxe", Statistic.SUM, 0, ("component", "kind"), Scope.GROUPING),
    AggregateQuery("", Statistic.COUNT, 0, ("kind", "year"), Scope.REACH),
    AggregateQuery("*.taxe", Statistic.COUNT, 0, ("sector",), Scope.REACH),
    AggregateQuery("*.taxe", Statistic.SUM, 0, (), Scope.GROUPING),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q.statistic}-{'-'.join(q.dimensions)}")
def test_published_cells_are_the_recomputed_protected_table(
    db: Database, seed: int, query: AggregateQuery
) -> None:
    world = random_world(seed)
    load(db, world)
    answer = ask(db, principal("droit"), query)
    expected = oracle(world, _viewer("droit"), query, RULES)
    assert answered_cells(answer) == expected_cells(expected, query.statistic)  # type: ignore[arg-type]
    assert any(c.published for c in answer.cells) or query.dimensions
    # the rules hold on every published cell, recounted from the raw values
    rows = oracle_rows(world, _viewer("droit"), query)
    for key, value, _ in answered_cells(answer):
        if not value:
            continue
        inside = [
            r for r in rows if all(k is None or k == v for k, v in zip(key, r.cell, strict=True))
        ]
        assert len({r.contact for r in inside}) >= RULES.k
        assert len({r.component for r in inside}) >= RULES.min_components
        if query.statistic is not Statistic.COUNT:
            sizes: dict[str, int] = {}
            for r in inside:
                sizes[r.component] = sizes.get(r.component, 0) + abs(int(r.value or 0))
            assert max(sizes.values()) * 100 <= 80 * sum(sizes.values())


@pytest.mark.parametrize("statistic", [Statistic.MEDIAN, Statistic.PERCENTILE])
def test_quantiles_agree_with_the_recomputation(db: Database, statistic: Statistic) -> None:
    world = random_world(4)
    load(db, world)
    query = AggregateQuery("*.taxe", statistic, 25.0, ("kind",), Scope.GROUPING)
    answer = ask(db, principal("sciences"), query)
    expected = expected_cells(oracle(world, _viewer("sciences"), query, RULES), statistic)
    got = answered_cells(answer)
    assert [(k, r) for k, _, r in got] == [(k, r) for k, _, r in expected]
    for (_, value, _), (_, wanted, _) in zip(got, expected, strict=True):
        assert (value == "") == (wanted == "")
        if value:
            assert abs(float(value) - float(wanted)) < 1e-6


def test_a_dominating_contact_hides_its_cell_and_a_complement(db: Database) -> None:
    world = random_world(5, contacts=120)
    # one contact of sector "industrie" pays far more than everybody else together
    contact_id, (kind, members, values) = next(
        (cid, c)
        for cid, c in world.contacts.items()
        if ("sciences.sector", "sciences", "industrie") in c[2] and "droit" in c[1]
    )
    values = [v for v in values if v[0] != "droit.taxe"] + [("droit.taxe", "droit", "90000000")]
    world.contacts[contact_id] = (kind, members, values)
    load(db, world)
    query = AggregateQuery("*.taxe", Statistic.SUM, 0, ("sector", "year"), Scope.GROUPING)
    answer = ask(db, principal("medecine"), query)
    reasons = {
        tuple(None if c.total else c.value for c in cell.coordinates): cell.reason
        for cell in answer.cells
    }
    assert reasons[("industrie", None)] == Reason.DOMINATED.value
    assert Reason.COMPLEMENTARY.value in reasons.values()
    for cell in answer.cells:
        if cell.published:
            assert cell.value and not cell.reason


def test_the_differencing_attack_is_refused_and_records_nothing(db: Database) -> None:
    world = random_world(6)
    load(db, world)
    total = AggregateQuery("*.taxe", Statistic.SUM, 0, (), Scope.GROUPING)
    ask(db, principal("droit"), total)
    with db.transaction() as session:
        recorded = session.scalar(select(func.count()).select_from(AggregateAuditRow))
        # one contact's tax leaves the grouping's figures
        victim = session.scalars(
            select(ValueRow.contact_id).where(ValueRow.field == "sciences.taxe").limit(1)
        ).one()
        session.execute(delete(ValueRow).where(ValueRow.contact_id == victim))
    with pytest.raises(PermissionDenied) as refused:
        ask(db, principal("droit"), total)
    assert "fewer than 5 contacts" in str(refused.value)
    assert "sum of *.taxe over the grouping" in str(refused.value)
    with db.transaction() as session:
        after = session.scalar(select(func.count()).select_from(AggregateAuditRow))
    assert after == recorded
    # a colleague of the same component shares the history; another component does not
    colleague = replace(principal("droit"), subject="colleague")
    with pytest.raises(PermissionDenied):
        ask(db, colleague, total)
    ask(db, principal("medecine"), total)


def test_two_overlapping_groupings_are_refused(db: Database) -> None:
    """By sector, then (one contact later gone) by year: a sector cell and its year cells..."""
    world = random_world(7, contacts=150)
    load(db, world)
    by_sector = AggregateQuery("*.taxe", Statistic.SUM, 0, ("sector",), Scope.GROUPING)
    first = ask(db, principal("droit"), by_sector)
    assert any(c.published and not c.coordinates[0].total for c in first.cells)
    with db.transaction() as session:
        victim = session.scalars(
            select(ValueRow.contact_id).where(
                ValueRow.field == "sciences.sector", ValueRow.value == "industrie"
            )
        ).first()
        session.execute(
            delete(ValueRow).where(ValueRow.contact_id == victim, ValueRow.field.like("%.taxe"))
        )
    by_sector_and_year = AggregateQuery(
        "*.taxe", Statistic.SUM, 0, ("sector", "year"), Scope.GROUPING
    )
    with pytest.raises(PermissionDenied) as refused:
        ask(db, principal("droit"), by_sector_and_year)
    assert "by sector over the grouping" in str(refused.value)


def test_a_component_without_the_aggregate_right_is_refused_not_answered(db: Database) -> None:
    world = random_world(8)
    load(db, world)
    for query, field in (
        (AggregateQuery("droit.secret", Statistic.SUM, 0, (), Scope.GROUPING), "droit.secret"),
        (AggregateQuery("*.taxe", Statistic.SUM, 0, ("note",), Scope.GROUPING), "droit.note"),
    ):
        with pytest.raises(PermissionDenied) as refused:
            ask(db, principal("sciences"), query)
        assert field in str(refused.value)
        assert "MARKER" not in str(refused.value) and "987654321" not in str(refused.value)
    # its owner holds every value of it, yet no grant lets it beyond its own: refused too
    own = AggregateQuery("droit.secret", Statistic.SUM, 0, (), Scope.REACH)
    with pytest.raises(PermissionDenied):
        ask(db, principal("droit"), own)


def test_reach_counts_only_the_components_contacts(db: Database) -> None:
    """(With p = 100: a component dominates the count of its own reach, by definition.)"""
    world = random_world(9, contacts=120)
    load(db, world)
    set_disclosure_rules(db, ADMIN, 5, 100, 2)
    count = AggregateQuery("", Statistic.COUNT, 0, (), Scope.REACH)
    reach = ask(db, principal("medecine"), count).cells[-1]
    everyone = ask(db, principal("medecine"), replace(count, scope=Scope.GROUPING)).cells[-1]
    members = sum("medecine" in m for _, m, _ in world.contacts.values())
    assert reach.published and int(reach.value) == members
    assert everyone.published and int(everyone.value) == len(world.contacts)


def test_the_grouping_scope_needs_a_component_or_the_communication_role(db: Database) -> None:
    load(db, random_world(10))
    query = AggregateQuery("", Statistic.COUNT, 0, (), Scope.GROUPING)
    with pytest.raises(PermissionDenied):
        ask(db, principal(None), query)
    assert ask(db, principal(None, "communication"), query).cells[-1].published
    with pytest.raises(InvalidArgument):
        ask(db, principal(None, "communication"), replace(query, scope=Scope.REACH))


def test_a_value_nobody_else_may_aggregate_never_reaches_an_answer(db: Database) -> None:
    world = random_world(11)
    load(db, world)
    for query in QUERIES:
        forget_history(db)
        answer = ask(db, principal("sciences"), query)
        assert "MARKER" not in repr(answer) and "987654321" not in repr(answer)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (AggregateQuery("sciences.sector", Statistic.SUM, 0, (), Scope.GROUPING), "measure"),
        (AggregateQuery("", Statistic.SUM, 0, (), Scope.GROUPING), "measure"),
        (AggregateQuery("*.taxe", None, 0, (), Scope.GROUPING), "statistic"),
        (AggregateQuery("*.taxe", Statistic.PERCENTILE, 101, (), Scope.GROUPING), "percentile"),
        (AggregateQuery("*.taxe", Statistic.SUM, 0, ("kind", "kind"), GROUP), "dimensions"),
        (AggregateQuery("*.taxe", Statistic.SUM, 0, ("nope",), GROUP), "dimensions[0]"),
        (
            AggregateQuery("*.taxe", Statistic.SUM, 0, ("kind", "year", "sector", "note"), GROUP),
            "dimensions",
        ),
        (AggregateQuery("*.taxe", Statistic.SUM, 0, (), None), "scope"),
    ],
)
def test_invalid_requests_name_the_field(db: Database, query: AggregateQuery, field: str) -> None:
    load(db, random_world(12, contacts=5))
    with pytest.raises(InvalidArgument) as refused:
        ask(db, principal("droit"), query)
    assert field in [v.field for v in refused.value.violations]


@pytest.mark.parametrize(
    ("dimension", "field"),
    [
        (Dimension("d", "D", "D", Source.FIELD, "sciences.since"), "field"),  # a date
        (Dimension("d", "D", "D", Source.FIELD, "droit.secret"), "field"),  # a number
        (Dimension("d", "D", "D", Source.YEAR, "sciences.sector"), "field"),  # not a date
        (Dimension("d", "D", "D", Source.FIELD, "nope.nope"), "field"),
        (Dimension("d", "D", "D", Source.FIELD, ""), "field"),
        (Dimension("d", "D", "D", Source.KIND, "sciences.sector"), "field"),
        (Dimension("D!", "D", "D", Source.KIND), "id"),
        (Dimension("d", "", "D", Source.KIND), "label_fr"),
        (Dimension("d", "D", "D", None), "source"),
    ],
)
def test_dimensions_are_checked_against_the_catalogue(
    db: Database, dimension: Dimension, field: str
) -> None:
    load(db, random_world(13, contacts=3))
    with pytest.raises(InvalidArgument) as refused:
        put_dimension(db, ADMIN, dimension)
    assert [v.field for v in refused.value.violations] == [field]
    with pytest.raises(PermissionDenied):
        put_dimension(db, principal("droit"), Dimension("d", "D", "D", Source.KIND))


@pytest.mark.parametrize(
    ("k", "p", "components", "field"),
    [
        (1, 80, 2, "k"),
        (21, 80, 2, "k"),
        (5, 0, 2, "p"),
        (5, 101, 2, "p"),
        (5, 80, 1, "min_components"),
    ],
)
def test_disclosure_rules_stay_in_range(
    db: Database, k: int, p: int, components: int, field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        set_disclosure_rules(db, ADMIN, k, p, components)
    assert [v.field for v in refused.value.violations] == [field]


def test_a_table_too_large_to_protect_is_refused_and_records_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = random_world(5)
    load(db, world)
    forget_history(db)
    query = AggregateQuery("*.taxe", Statistic.SUM, 0, ("sector", "year"), Scope.GROUPING)
    assert len(ask(db, principal("droit"), query).cells) > 4  # the same query, allowed
    forget_history(db)
    monkeypatch.setattr("services.contacts.aggregates.MAX_CELLS", 4)
    with pytest.raises(InvalidArgument) as refused:
        ask(db, principal("droit"), query)
    assert [v.field for v in refused.value.violations] == ["dimensions"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AggregateAuditRow)) == 0
