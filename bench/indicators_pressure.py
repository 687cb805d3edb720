"""The marketing-pressure dashboard over a large ledger: the rollup, then the dashboard call.

Seeds a dedicated PostgreSQL database (crm_bench_pressure; --reuse keeps it between runs)
with the campaigns schema and --rows marketing ledger rows written by COPY (secondary
indexes dropped during the load, then rebuilt): ~12 months, 20 components, 3 purposes,
--contacts people, some deferred and capped mails, and attributed withdrawals and
objections. Then it times:

- the rollup's full build (every month recomputed from the ledger, pressure_rollup.py);
- the use case: the grouping's dashboard of the busiest month, read from the
  pre-aggregates and published under the disclosure rules (pressure_dashboard.py), and a
  component's view; min and median of --runs calls each.

    python -m bench.indicators_pressure --rows 10000000

`run(args) -> dict` returns the figures it prints (bench.indicators may call it).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from meshkit.db import Database, make_engine
from services.campaigns.bootstrap import migrate_schema
from services.campaigns.models import Delivery, PressureCell
from services.campaigns.pressure_dashboard import DisclosureRulesSource, PressureDashboards
from services.campaigns.pressure_rollup import PressureRollups, month_of

ADMIN_URL = os.environ.get(
    "CRM_BENCH_POSTGRES",
    os.environ.get("CRM_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
)
DATABASE = "crm_bench_pressure"
PURPOSES = ("newsletter", "events", "alumni")
FIRST = datetime(2025, 1, 1, tzinfo=UTC)
MONTHS = 12
CAMPAIGNS_PER_MONTH = 4  # per component and purpose
COLUMNS = (
    "campaign_id",
    "contact_id",
    "message_class",
    "outcome",
    "sent_at",
    "send_started_at",
    "deferred_until",
    "decided_at",
    "rule",
)
_ODD_PRIMES = (1_000_003, 999_983, 1_299_709, 15_485_863, 32_452_843, 49_979_687, 86_028_121)


def _url(database: str) -> str:
    return make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _database(reuse: bool) -> tuple[str, bool]:
    """The bench database's URL, and whether it must be seeded."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": DATABASE}
            )
            if exists and reuse:
                return _url(DATABASE), False
            connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        admin.dispose()
    return _url(DATABASE), True


def _campaigns(components: int) -> list[tuple[str, str, str, int]]:
    """(id, component, purpose, month index) of every seeded campaign."""
    return [
        (
            str(uuid.UUID(int=random.Random(f"{c}-{p}-{m}-{n}").getrandbits(128))),
            f"comp{c:02d}",
            p,
            m,
        )
        for c in range(components)
        for p in PURPOSES
        for m in range(MONTHS)
        for n in range(CAMPAIGNS_PER_MONTH)
    ]


def _rows(
    campaigns: list[tuple[str, str, str, int]], rows: int, contacts: int, seed: int
) -> Iterator[tuple[Any, ...]]:
    """`rows` ledger rows; each campaign mails distinct contacts (a stride through them)."""
    rng = random.Random(seed)
    per = rows // len(campaigns)
    extra = rows - per * len(campaigns)
    for index, (campaign, _component, _purpose, month) in enumerate(campaigns):
        n = min(contacts, per + (1 if index < extra else 0))
        stride = _ODD_PRIMES[index % len(_ODD_PRIMES)] % contacts or 1
        offset = rng.randrange(contacts)
        month_start = FIRST + timedelta(days=30.4 * month)
        day = rng.randrange(28)
        for i in range(n):
            person = f"bench-{(offset + i * stride) % contacts:07d}"
            at = month_start + timedelta(days=day, seconds=(i * 7) % 86400)
            draw = rng.random()
            if draw < 0.90:
                yield (campaign, person, "marketing", "sent", at, at, None, at, "sent")
            elif draw < 0.95:  # deferred once, then sent
                yield (campaign, person, "marketing", "sent", at, at, at, at, "sent")
            elif draw < 0.97:
                rule = "pressure:weekly:3/604800s"
                yield (campaign, person, "marketing", "capped", None, None, None, at, rule)
            elif draw < 0.98:
                yield (campaign, person, "marketing", "unconfirmed", None, at, None, at, "x")
            else:
                yield (campaign, person, "marketing", "no_consent", None, None, None, at, "x")


def _responses(
    campaigns: list[tuple[str, str, str, int]], contacts: int, seed: int
) -> Iterator[tuple[Any, ...]]:
    """Withdrawals and objections (one person in 200 a month), already attributed."""
    rng = random.Random(seed)
    event = 0
    for month in range(MONTHS):
        at = FIRST + timedelta(days=30.4 * month + 15)
        for _ in range(contacts // 200):
            event += 1
            _, component, purpose, _ = rng.choice(campaigns)
            kind = "objected" if rng.random() < 0.1 else "withdrawn"
            person = f"bench-{rng.randrange(contacts):07d}"
            yield (event, person, kind, at, month_of(at), component, purpose)


def _seed(url: str, rows: int, contacts: int, components: int) -> float:
    """Schema, campaigns and ledger rows (COPY, secondary indexes rebuilt after); seconds."""
    started = time.perf_counter()
    engine = make_engine(url)
    migrate_schema(engine)
    engine.dispose()
    campaigns = _campaigns(components)
    with psycopg.connect(_libpq(url), autocommit=False) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY campaigns (id, name, owner_component, purpose, subject_template, "
                "body_template, audience_kind, audience_ids, status, created_by, created_at, "
                "priority, over_budget) FROM STDIN"
            ) as copy:
                for campaign, component, purpose, month in campaigns:
                    created = FIRST + timedelta(days=30.4 * month)
                    copy.write_row(
                        (
                            campaign,
                            "bench",
                            component,
                            purpose,
                            "s",
                            "b",
                            "contact_ids",
                            "[]",
                            "done",
                            "bench",
                            created,
                            5,
                            "defer",
                        )
                    )
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'deliveries' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
            indexes = [r[0] for r in cursor.fetchall()]
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'deliveries'::regclass AND contype IN ('u')"
            )
            uniques = cursor.fetchall()
            for name in [d.split(" INDEX ")[1].split(" ON ")[0] for d in indexes]:
                cursor.execute(f"DROP INDEX {name}")
            for name, _ in uniques:
                cursor.execute(f"ALTER TABLE deliveries DROP CONSTRAINT {name}")
            with cursor.copy(f"COPY deliveries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in _rows(campaigns, rows, contacts, seed=11):
                    copy.write_row(row)
            with cursor.copy(
                "COPY campaigns_pressure_responses "
                "(event_id, contact_id, kind, at, month, component, purpose) FROM STDIN"
            ) as copy:
                for row in _responses(campaigns, contacts, seed=12):
                    copy.write_row(row)
            connection.commit()
            for name, definition in uniques:
                cursor.execute(f"ALTER TABLE deliveries ADD CONSTRAINT {name} {definition}")
            for definition in indexes:
                cursor.execute(definition)
            connection.commit()
            cursor.execute("ANALYZE deliveries")
            connection.commit()
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seeds (unless reused), times the full rollup, then the dashboard; the figures."""
    url, fresh = _database(args.reuse)
    figures: dict[str, Any] = {"rows": args.rows, "contacts": args.contacts}
    if fresh:
        figures["seed_seconds"] = round(_seed(url, args.rows, args.contacts, args.components), 1)
    engine = make_engine(url)
    db = Database(engine)
    try:
        with db.transaction() as session:
            figures["ledger_rows"] = session.scalar(select(func.count()).select_from(Delivery))
        end = FIRST + timedelta(days=30.4 * MONTHS + 5)
        rollups = PressureRollups(db, None, timedelta(days=7), clock=lambda: end)
        if fresh or not args.skip_rollup:
            rollups = PressureRollups(db, None, timedelta(days=7))
            months = _all_months()
            started = time.perf_counter()
            for month in months:  # the full build: every month recomputed from the ledger
                rollups.recompute(month)
            figures["rollup_seconds"] = round(time.perf_counter() - started, 1)
            figures["rollup_months"] = len(months)
        with db.transaction() as session:
            figures["rollup_cells"] = session.scalar(select(func.count()).select_from(PressureCell))
            busiest = session.execute(
                select(PressureCell.month)
                .where(PressureCell.series == "contacts_reached", PressureCell.component == "")
                .order_by(PressureCell.units.desc())
                .limit(1)
            ).scalar()
        month = busiest or month_of(FIRST)
        dashboards = PressureDashboards(db, DisclosureRulesSource(None))
        for name, component in (("grouping", ""), ("component", "comp00")):
            times = []
            published = total = 0
            for _ in range(args.runs):
                started = time.perf_counter()
                view = dashboards.view(month, component)
                times.append(time.perf_counter() - started)
                total = len(view.figures)
                published = sum(1 for f in view.figures if f.published)
            figures[f"dashboard_{name}_min_s"] = round(min(times), 3)
            figures[f"dashboard_{name}_median_s"] = round(statistics.median(times), 3)
            figures[f"dashboard_{name}_figures"] = total
            figures[f"dashboard_{name}_published"] = published
        figures["month"] = month
    finally:
        engine.dispose()
    return figures


def _all_months() -> list[str]:
    """Every calendar month the seeded mail may fall in, from the first to the last."""
    last = month_of(FIRST + timedelta(days=30.4 * MONTHS + 31))
    months, month = [], month_of(FIRST)
    while month <= last:
        months.append(month)
        year, number = int(month[:4]), int(month[5:])
        month = f"{year + number // 12}-{number % 12 + 1:02d}"
    return months


def parser() -> argparse.ArgumentParser:
    """The bench's options (bench/indicators.py builds its part from them)."""
    found = argparse.ArgumentParser(
        prog="python -m bench.indicators_pressure", description=__doc__.split("\n\n")[0]
    )
    found.add_argument("--rows", type=int, default=10_000_000, help="marketing ledger rows")
    found.add_argument("--contacts", type=int, default=500_000)
    found.add_argument("--components", type=int, default=20)
    found.add_argument("--runs", type=int, default=5, help="timed dashboard calls per view")
    found.add_argument("--reuse", action="store_true", help="keep the seeded database")
    found.add_argument(
        "--skip-rollup", action="store_true", help="with --reuse: time the dashboard only"
    )
    return found


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    figures = run(args)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    aim = figures["dashboard_grouping_median_s"] < 2.0
    print(f"aim (grouping dashboard under 2 s): {'met' if aim else 'NOT met'}", file=sys.stderr)


if __name__ == "__main__":
    main()
