"""Benchmark: one grouped aggregate over 1,000,000 contacts in PostgreSQL, protected and audited.

Creates (or with --reuse, keeps) the database `crm_bench_indicators` on the test server,
migrates it and seeds it with COPY: five components, each holding its own number attribute
`<c>.taxe` (aggregate: the whole grouping), `sciences.sector` and `sciences.since` (the
sector and the start date, aggregate: the whole grouping), contacts members of one to three
components. Then times the Aggregate use case as the service runs it (services.contacts.
aggregates.aggregate: the one GROUPING SETS statement, the primary and complementary
suppression, the auditor against the caller's history, the audit write) for
`sum of *.taxe by sector, year over the grouping`, N runs each:

- cold: no snapshot of the question (each run deletes it): the statement runs, its
  summaries are stored, then suppression and the auditor;
- warm: the snapshot is there (what a dashboard of usual questions gets): its summaries
  are read back, then suppression and the auditor;
- the statement alone.

Prints min and median of each and the cells published. The aim (issue 11): under one
second. Asserts nothing. With --reuse an existing database gets the snapshot table if it
lacks it (created from the model, the shared database's revision left as it is).

    python -m bench.indicators_aggregate [--contacts 1000000] [--runs 5] [--reuse] [--keep]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from meshkit.db import Database, make_engine
from meshkit.disclosure import Statistic
from meshkit.identity import Principal
from services.contacts import aggregates
from services.contacts.aggregate_snapshots import SnapshotRow
from services.contacts.aggregate_sql import WORK_MEM, postgres_statement
from services.contacts.aggregates import AggregateQuery, Scope
from services.contacts.bootstrap import apply_migrations
from services.contacts.indicators_admin import Dimension, Source, put_dimension
from tests.support.stores import ADMIN_URL

DATABASE = "crm_bench_indicators"
COMPONENTS = ("droit", "lettres", "medecine", "sciences", "sante")
SECTORS = ("industrie", "services", "commerce", "public", "agriculture", "numerique")
YEARS = tuple(range(2018, 2026))
SECRET = "bench audit secret"
ADMIN = Principal("bench-admin", None, roles=frozenset({"admin"}), placed=True)
CALLER = Principal("bench@droit", "droit", roles=frozenset({"viewer"}), placed=True)
QUERY = AggregateQuery("*.taxe", Statistic.SUM, 0, ("sector", "year"), Scope.GROUPING)
TTL = 300.0  # the service's default CONTACTS_AGGREGATE_SNAPSHOT_SECONDS


def _url(database: str) -> str:
    return make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _exists() -> bool:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}
        ).first()
    admin.dispose()
    return found is not None


def _recreate() -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()


def drop() -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


def _contact_id(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def _copy(connection: Any, statement: str, lines: io.StringIO) -> None:
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(lines.getvalue())


def seed(db: Database, contacts: int, seed_value: int = 11) -> None:
    """Components, attributes, policies and `contacts` contacts, by COPY."""
    rng = random.Random(seed_value)
    now = "2026-01-01 00:00:00+00"
    with db.engine.begin() as connection:
        raw = connection.connection.driver_connection
        components = io.StringIO()
        for c in COMPONENTS:
            components.write(f"{c}\t{c}\t{now}\n")
        _copy(raw, "COPY components (id, name, created_at) FROM STDIN", components)
        attributes = io.StringIO()
        for c in COMPONENTS:
            attributes.write(f"{c}\ttaxe\tnumber\t[]\tTaxe\tTax\t{now}\n")
        attributes.write(f"sciences\tsector\ttext\t[]\tSecteur\tSector\t{now}\n")
        attributes.write(f"sciences\tsince\tdate\t[]\tDepuis\tSince\t{now}\n")
        _copy(
            raw,
            "COPY attribute_definitions (component_id, key, type, choices, label_fr, label_en,"
            " created_at) FROM STDIN",
            attributes,
        )
        policies = io.StringIO()
        owner, grouping = '[{"audience": "owner"}]', '[{"audience": "grouping"}]'
        fields = [f"{c}.taxe" for c in COMPONENTS] + ["sciences.sector", "sciences.since"]
        for name in fields:
            policies.write(f"{name}\t{owner}\t{owner}\t{grouping}\tbench\t{now}\n")
        _copy(
            raw,
            "COPY field_policies (field, read, write, aggregate, updated_by, updated_at)"
            " FROM STDIN",
            policies,
        )
        chunk = 100_000
        for start in range(0, contacts, chunk):
            people, members, values = io.StringIO(), io.StringIO(), io.StringIO()
            for i in range(start, min(start + chunk, contacts)):
                cid = _contact_id(i)
                people.write(f"{cid}\t{'person' if i % 3 else 'company'}\t{now}\t{now}\n")
                known = rng.sample(COMPONENTS, rng.choice((1, 1, 2, 3)))
                if rng.random() < 0.9 and "sciences" not in known:
                    known.append("sciences")  # sciences keeps the sectors
                for c in known:
                    members.write(f"{cid}\t{c}\t{now}\n")
                    if rng.random() < (0.3 if c == "sciences" else 0.8):
                        amount = rng.randint(1, 500) * 10
                        values.write(f"{cid}\t{c}.taxe\t{c}\t{amount}\t{amount}\tbench\t{now}\n")
                if "sciences" in known:
                    if rng.random() < 0.95:
                        sector = rng.choice(SECTORS)
                        values.write(
                            f"{cid}\tsciences.sector\tsciences\t{sector}\t\\N\tbench\t{now}\n"
                        )
                    if rng.random() < 0.95:
                        since = f"{rng.choice(YEARS)}-0{rng.randint(1, 9)}-15"
                        values.write(
                            f"{cid}\tsciences.since\tsciences\t{since}\t\\N\tbench\t{now}\n"
                        )
            _copy(raw, "COPY contacts (id, kind, created_at, updated_at) FROM STDIN", people)
            _copy(
                raw, "COPY memberships (contact_id, component_id, created_at) FROM STDIN", members
            )
            _copy(
                raw,
                "COPY contact_values (contact_id, field, owner_component, value, number_value,"
                " updated_by, updated_at) FROM STDIN",
                values,
            )
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    put_dimension(
        db, ADMIN, Dimension("sector", "Secteur", "Sector", Source.FIELD, "sciences.sector")
    )
    put_dimension(db, ADMIN, Dimension("year", "Année", "Year", Source.YEAR, "sciences.since"))


def _time(work: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seeds (unless reused), times the aggregate; the figures as a dict (bench/indicators.py)."""
    contacts = getattr(args, "contacts", 1_000_000)
    runs = getattr(args, "runs", 5)
    reuse = getattr(args, "reuse", False)
    keep = getattr(args, "keep", False) or reuse
    seeded = 0.0
    if not (reuse and _exists()):
        _recreate()
        engine = make_engine(_url(DATABASE))
        db = Database(engine)
        apply_migrations(db)
        started = time.perf_counter()
        seed(db, contacts)
        seeded = time.perf_counter() - started
    else:
        engine = make_engine(_url(DATABASE))
        db = Database(engine)
        SnapshotRow.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]
    try:
        with db.transaction() as session:
            held = session.execute(text("SELECT count(*) FROM contacts")).scalar_one()
            session.execute(text("DELETE FROM aggregate_audit"))
            session.execute(text("DELETE FROM aggregate_snapshots"))

        def ask() -> aggregates.Answer:
            return aggregates.aggregate(db, CALLER, QUERY, SECRET, snapshot_seconds=TTL)

        def cold() -> None:
            with db.transaction() as session:
                session.execute(text("DELETE FROM aggregate_snapshots"))
            ask()

        answer = ask()  # plans, caches; leaves the snapshot
        warm = _time(ask, max(runs, 5))
        whole = _time(cold, runs)
        plan = _plan(db)
        statement, params = postgres_statement(plan, SECRET)

        def statement_only() -> None:
            with db.transaction() as session:
                session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
                session.execute(text("SET LOCAL jit = off"))
                session.execute(text(statement), params).all()

        alone = _time(statement_only, runs)
    finally:
        engine.dispose()
        if not keep:
            drop()
    figures = {
        "contacts": held,
        "seconds_seeding": round(seeded, 1),
        "runs": runs,
        "cold_min_s": round(min(whole), 3),
        "cold_median_s": round(statistics.median(whole), 3),
        "warm_min_s": round(min(warm), 3),
        "warm_median_s": round(statistics.median(warm), 3),
        "statement_min_s": round(min(alone), 3),
        "statement_median_s": round(statistics.median(alone), 3),
        "cells": len(answer.cells),
        "published": sum(c.published for c in answer.cells),
        "query": answer.query,
    }
    return figures


def _plan(db: Database) -> Any:
    from services.contacts import organisation, repository
    from services.contacts.aggregates import _check, _plan, _viewer, measure_fields
    from services.contacts.indicators_admin import dimensions, disclosure_settings

    with db.transaction() as session:
        viewer = _viewer(session, CALLER)
        rules = organisation.rules(session)
        known = dimensions(session)
        catalogue = repository.load_catalogue(session)
        k = disclosure_settings(session).k
        attributes = list(catalogue.attributes)
        axes = _check(QUERY, viewer, known, catalogue.type_of, attributes)
        fields = measure_fields(QUERY.measure, catalogue.type_of, attributes)
        return _plan(QUERY, viewer, rules, fields, axes, k)


def parser() -> argparse.ArgumentParser:
    """The bench's arguments (bench/indicators.py reuses them)."""
    found = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    found.add_argument("--contacts", type=int, default=1_000_000)
    found.add_argument("--runs", type=int, default=5)
    found.add_argument("--reuse", action="store_true", help="keep and reuse the seeded database")
    found.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    return found


def main() -> None:
    figures = run(parser().parse_args())
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
