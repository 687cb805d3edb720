"""Benchmark: the grouping's indicators, at the sizes the issue names.

Two parts, each in its own module so it can run alone:

- `bench.indicators_aggregate`: one grouped aggregate (two dimensions, with primary and
  complementary suppression and the query auditor) over 1,000,000 contacts in PostgreSQL,
  cold (the statement runs) and warm (from the pre-aggregated snapshot contacts keeps of
  a question asked before). The aim: under one second on this machine.
- `bench.indicators_pressure`: the marketing-pressure dashboard over 10,000,000 ledger rows,
  read from the pre-aggregates (the time to build them is printed too). The aim: under two
  seconds.

Each part seeds its own database straight with COPY (kept with `--reuse`), prints its
figures and asserts nothing.

    python -m bench.indicators [--contacts 1000000] [--rows 10000000] [--runs 5] [--reuse]
        [--only aggregate|pressure] [--skip-rollup]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench import indicators_aggregate, indicators_pressure


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep and reuse seeded databases")
    parser.add_argument("--only", choices=("aggregate", "pressure"))
    parser.add_argument(
        "--skip-rollup", action="store_true", help="with --reuse: pressure reads only"
    )
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    if args.only in (None, "aggregate"):
        figures["aggregate"] = indicators_aggregate.run(
            indicators_aggregate.parser().parse_args(
                ["--contacts", str(args.contacts), "--runs", str(args.runs)]
                + (["--reuse"] if args.reuse else [])
            )
        )
    if args.only in (None, "pressure"):
        figures["pressure"] = indicators_pressure.run(
            indicators_pressure.parser().parse_args(
                ["--rows", str(args.rows), "--runs", str(args.runs)]
                + (["--reuse"] if args.reuse else [])
                + (["--skip-rollup"] if args.skip_rollup else [])
            )
        )
    print(json.dumps(figures, indent=2, default=str))
    return figures


if __name__ == "__main__":
    main()
