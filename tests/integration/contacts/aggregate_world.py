"""A seeded grouping for the aggregate tests, written straight into a contacts database, and
an oracle that recomputes the protected table from the raw values in plain Python.

Three components hold each their own number attribute `<c>.taxe` (read: the owner only;
aggregate: the whole grouping) and `sciences` keeps the sector and the start date of its
contacts (aggregate: the whole grouping). The oracle picks the values with `may_aggregate`,
one dimension value per contact as the service must (the caller's own component's, else the
lowest owner's), and protects the table with meshkit.disclosure.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import delete

from meshkit.db import Database, make_engine
from meshkit.disclosure import Row, Rules, Statistic, Table, protect_summaries, summarize
from meshkit.identity import Principal
from services.contacts import repository
from services.contacts.aggregates import (
    MISSING,
    AggregateQuery,
    Answer,
    Scope,
    aggregate,
    format_value,
)
from services.contacts.indicators_admin import (
    Dimension,
    Source,
    put_dimension,
    set_disclosure_rules,
)
from services.contacts.models import (
    AggregateAuditRow,
    AggregateDimensionRow,
    AttributeDefinitionRow,
    Base,
    ComponentRow,
    ContactRow,
    DisclosureRulesRow,
    FieldPolicyRow,
    MembershipRow,
    ValueRow,
)
from services.contacts.policy import (
    Audience,
    FieldPolicy,
    Grant,
    Viewer,
    may_aggregate,
)
from services.contacts.policy import (
    Rules as PolicyRules,
)
from tests.support.stores import fresh_postgres

COMPONENTS = ("droit", "medecine", "sciences")
SECTORS = ("industrie", "services", "=cmd|' /C calc'!A0")  # the last one: CSV injection
SECRET = "test-audit-secret"
ADMIN = Principal("admin", None, roles=frozenset({"admin"}), placed=True)
GROUPING = (Grant(Audience.GROUPING),)
OWNER = (Grant(Audience.OWNER),)


@contextmanager
def contacts_database(kind: str, name: str) -> Iterator[Database]:
    """A contacts schema on in-memory SQLite (`kind` "sqlite") or on a fresh PostgreSQL
    database named after `name`, dropped afterwards."""
    if kind == "sqlite":
        engine = make_engine("sqlite://")
        Base.metadata.create_all(engine)
        yield Database(engine)
        engine.dispose()
        return
    with fresh_postgres(name) as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield Database(engine)
        engine.dispose()


def principal(component: str | None, *roles: str) -> Principal:
    return Principal(
        f"user-{component or 'grouping'}",
        component,
        roles=frozenset({"viewer", *roles}),
        placed=True,
    )


@dataclass
class World:
    """contacts: id -> (kind, members, values [(field, owner, value)])."""

    contacts: dict[str, tuple[str, frozenset[str], list[tuple[str, str, str]]]] = field(
        default_factory=dict
    )
    policies: dict[str, FieldPolicy] = field(default_factory=dict)

    def rules(self) -> PolicyRules:
        return PolicyRules(self.policies, ())


def default_policies() -> dict[str, FieldPolicy]:
    policies = {
        f"{c}.taxe": FieldPolicy(f"{c}.taxe", read=OWNER, aggregate=GROUPING) for c in COMPONENTS
    }
    for name in ("sciences.sector", "sciences.since"):
        policies[name] = FieldPolicy(name, read=OWNER, aggregate=GROUPING)
    # readable and aggregatable by its owner only: must never leave droit
    policies["droit.note"] = FieldPolicy("droit.note", read=OWNER)
    policies["droit.secret"] = FieldPolicy("droit.secret", read=OWNER)
    return policies


def random_world(seed: int, contacts: int = 80) -> World:
    rng = random.Random(seed)
    world = World(policies=default_policies())
    for _ in range(contacts):
        members = frozenset(rng.sample(COMPONENTS, rng.randint(1, 3)))
        values: list[tuple[str, str, str]] = []
        for component in sorted(members):
            # sciences keeps the sectors: its own figures stay a minority of each cell
            if rng.random() < (0.3 if component == "sciences" else 0.8):
                values.append((f"{component}.taxe", component, str(rng.randint(1, 60) * 100)))
        if "sciences" in members and rng.random() < 0.9:
            values.append(("sciences.sector", "sciences", rng.choice(SECTORS)))
        if "sciences" in members and rng.random() < 0.9:
            values.append(("sciences.since", "sciences", f"{rng.choice((2023, 2024))}-03-01"))
        if "droit" in members and rng.random() < 0.5:
            values.append(("droit.note", "droit", "MARKER-7f3a"))
            values.append(("droit.secret", "droit", "987654321"))
        world.contacts[str(uuid.uuid4())] = (rng.choice(("person", "company")), members, values)
    return world


ATTRIBUTES = [
    *((c, "taxe", "number") for c in COMPONENTS),
    ("sciences", "sector", "text"),
    ("sciences", "since", "date"),
    ("droit", "note", "text"),
    ("droit", "secret", "number"),
]


def load(db: Database, world: World) -> None:
    """Empties the database and writes the world (policies, dimensions, default rules)."""
    with db.transaction() as session:
        for table in (
            AggregateAuditRow,
            AggregateDimensionRow,
            DisclosureRulesRow,
            ValueRow,
            MembershipRow,
            ContactRow,
            FieldPolicyRow,
            AttributeDefinitionRow,
            ComponentRow,
        ):
            session.execute(delete(table))
    with db.transaction() as session:
        session.add_all(ComponentRow(id=c, name=c) for c in COMPONENTS)
        session.flush()
        session.add_all(
            AttributeDefinitionRow(component_id=c, key=k, type=t) for c, k, t in ATTRIBUTES
        )
        for policy in world.policies.values():
            session.add(
                FieldPolicyRow(
                    field=policy.field,
                    read=repository.stored_grants(policy.read),
                    write=repository.stored_grants(policy.write),
                    aggregate=repository.stored_grants(policy.aggregate),
                    updated_by="test",
                )
            )
        for contact_id, (kind, members, values) in world.contacts.items():
            session.add(ContactRow(id=contact_id, kind=kind))
            session.flush()
            session.add_all(MembershipRow(contact_id=contact_id, component_id=m) for m in members)
            for name, owner, value in values:
                number = Decimal(value) if name.endswith(("taxe", "secret")) else None
                session.add(
                    ValueRow(
                        contact_id=contact_id,
                        field=name,
                        owner_component=owner,
                        value=value,
                        number_value=number,
                        updated_by="test",
                    )
                )
    for dimension in (
        Dimension("sector", "Secteur", "Sector", Source.FIELD, "sciences.sector"),
        Dimension("year", "Année", "Year", Source.YEAR, "sciences.since"),
        Dimension("kind", "Type", "Kind", Source.KIND),
        Dimension("component", "Composante", "Component", Source.COMPONENT),
        Dimension("note", "Note", "Note", Source.FIELD, "droit.note"),
    ):
        put_dimension(db, ADMIN, dimension)
    set_disclosure_rules(db, ADMIN, 5, 80, 2)


DIMENSION_FIELDS = {
    "sector": ("sciences.sector", False),
    "year": ("sciences.since", True),
    "note": ("droit.note", False),
}


def oracle(world: World, viewer: Viewer, query: AggregateQuery, rules: Rules) -> Table:
    """The protected table recomputed from the raw values (no SQL)."""
    rows = oracle_rows(world, viewer, query)
    assert query.statistic is not None
    percentile = (
        Fraction(str(query.percentile)) if query.statistic is Statistic.PERCENTILE else None
    )
    summaries = summarize(
        rows,
        query.statistic,
        dimensions=len(query.dimensions),
        percentile=percentile,
        sketch_secret=SECRET,
        k=rules.k,
    )
    return protect_summaries(
        summaries,
        query.statistic,
        rules,
        dimensions=len(query.dimensions),
        percentile=percentile,
    )


def oracle_rows(world: World, viewer: Viewer, query: AggregateQuery) -> list[Row]:
    """One row per (contact, contributing component) the viewer may aggregate."""
    policy_rules = world.rules()
    measures = (
        [f"{c}.taxe" for c in COMPONENTS]
        if query.measure == "*.taxe"
        else ([query.measure] if query.measure else [])
    )
    rows = []
    for contact_id, (kind, members, values) in world.contacts.items():
        if query.scope is Scope.REACH and viewer.component not in members:
            continue
        coordinates_by_dimension = {}
        for name in query.dimensions:
            if name in DIMENSION_FIELDS:
                wanted, year = DIMENSION_FIELDS[name]
                held = sorted(
                    (owner != viewer.component, owner, value[:4] if year else value)
                    for f, owner, value in values
                    if f == wanted and may_aggregate(policy_rules, viewer, f, owner, members)
                )
                coordinates_by_dimension[name] = held[0][2] if held else MISSING
        contributions: list[tuple[str, int | Fraction]] = []
        if measures:
            contributions = [
                (owner, int(value))
                for f, owner, value in values
                if f in measures and may_aggregate(policy_rules, viewer, f, owner, members)
            ]
        else:
            contributions = [(m, 1) for m in sorted(members)]
        for owner, amount in contributions:
            cell = []
            for name in query.dimensions:
                if name == "kind":
                    cell.append(kind)
                elif name == "component":
                    cell.append(owner)
                else:
                    cell.append(coordinates_by_dimension[name])
            rows.append(Row(contact_id, owner, tuple(cell), amount))
    return rows


Listed = list[tuple[tuple[str | None, ...], str, str]]


def expected_cells(table: Table, statistic: Statistic) -> Listed:
    """(key, value, reason) of every cell, as the service formats them."""
    return [
        (
            cell.key,
            format_value(cell.value, statistic) if cell.value is not None else "",
            cell.reason.value if cell.reason else "",
        )
        for cell in table.cells
    ]


def answered_cells(answer: Answer) -> Listed:
    return [
        (
            tuple(None if c.total else c.value for c in cell.coordinates),
            cell.value,
            cell.reason,
        )
        for cell in answer.cells
    ]


def ask(db: Database, who: Principal, query: AggregateQuery) -> Answer:
    return aggregate(db, who, query, SECRET)
