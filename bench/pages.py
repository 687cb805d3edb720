"""Benchmark: keyset pages of the campaigns list, deep in a large table.

Migrates a fresh PostgreSQL database (on this machine, as the tests do), seeds
`--campaigns` campaigns spread over ten components with one INSERT ... SELECT,
then walks one component's whole list a page at a time through
CampaignsService.list_campaigns (the SQL the ListCampaigns RPC runs), and prints
the time per page (p50, max, first, last: with keyset pages the last page costs
what the first does, where OFFSET would read every row before it) and the plan
PostgreSQL chose for a page in the middle. Asserts nothing.

    python -m bench.pages [--campaigns 100000] [--page-size 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import text

from meshkit.db import Database, make_engine
from meshkit.identity import Principal
from services.campaigns.bootstrap import migrate_schema
from services.campaigns.service import CampaignsService
from tests.support.stores import fresh_postgres

COMPONENTS = 10
SEED = """
insert into campaigns (id, owner_component, name, purpose, subject_template, body_template,
  audience_kind, audience_ids, status, created_by, created_at, priority, over_budget,
  html_body_template)
select md5(i::text)::uuid::text, 'c' || (i % :components), 'n', 'newsletter', 's', 'b',
  'contact_ids', '[]', 'draft', 'bench', timestamptz '2025-01-01' + (i || ' s')::interval,
  5, 'defer', ''
from generate_series(1, :count) as i
"""
PLAN = """
explain analyze select * from campaigns where owner_component = 'c3'
  and (created_at, id) < (:at, :id) order by created_at desc, id desc limit :limit
"""


def main() -> None:
    """Seed, walk one component's campaigns page by page, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    with fresh_postgres("bench_pages") as url:
        engine = make_engine(url)
        migrate_schema(engine)
        with engine.begin() as connection:
            connection.execute(text(SEED), {"components": COMPONENTS, "count": args.campaigns})
            connection.execute(text("analyze campaigns"))
        # Listing reads no peer: no contacts directory or purposes catalogue is needed.
        service = CampaignsService(Database(engine), None, None)  # type: ignore[arg-type]
        owner = Principal("bench@c3", component="c3", roles=frozenset({"campaign_manager"}))
        token, times, ends = "", [], []
        while True:
            started = time.perf_counter()
            page = service.list_campaigns(owner, args.page_size, token)
            times.append((time.perf_counter() - started) * 1000)
            ends += page.campaigns[-1:]
            token = page.next_page_token
            if not token:
                break
        middle = ends[len(ends) // 2] if ends else None
        print(
            f"{args.campaigns} campaigns, component c3: {len(times)} pages of {args.page_size}; "
            f"per page p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms, "
            f"first {times[0]:.1f} ms, last {times[-1]:.1f} ms"
        )
        if middle is not None:
            with engine.connect() as connection:
                values = {"at": middle.created_at, "id": middle.id, "limit": args.page_size + 1}
                print("\n".join(connection.execute(text(PLAN), values).scalars()))
        engine.dispose()


if __name__ == "__main__":
    main()
