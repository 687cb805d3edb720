"""What every admin command shares: its options, its help layout, its output and exit codes.

Exit codes: 0 done; 1 the gateway refused (its problem on stderr), it could not
be reached, or a file or token was not usable; 2 a usage error (argparse's own,
or options that parse but do not go together).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from services.admin.http import DEFAULT_GATEWAY, CliError, Gateway, default_gateway

FORMATS = ("json", "table", "csv")
Run = Callable[[Gateway, argparse.Namespace], Any]
Subparsers = Any  # argparse's _SubParsersAction is private


def connection_options() -> argparse.ArgumentParser:
    """--gateway, --token and --timeout: the same on every command that calls the gateway."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("gateway")
    group.add_argument(
        "--gateway",
        default=default_gateway(),
        help=f"gateway base URL (default: $CRM_GATEWAY, else {DEFAULT_GATEWAY})",
    )
    group.add_argument("--token", help="bearer token (default: $CRM_TOKEN)")
    group.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    return options


def format_option(parser: argparse.ArgumentParser) -> None:
    """--format for a read: JSON by default, a table or CSV of the rows otherwise."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="json",
        help="json (default, the gateway's answer), table or csv (one row per item)",
    )


def area(commands: Subparsers, name: str, help: str, description: str, dest: str = "verb") -> Any:
    """A `crm NAME` command (or a group inside one) whose verbs are added to what this returns.

    Its --help ends with the first example of each verb added below it.
    """
    parser = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest=dest, required=True, metavar="{verb}")
    verbs.crm_parents = [parser, *getattr(commands, "crm_parents", [])]
    return verbs


def command(
    verbs: Subparsers,
    name: str,
    run: Run,
    help: str,
    examples: Sequence[str],
    reads: bool = False,
) -> argparse.ArgumentParser:
    """A leaf command: one-line help, examples under --help, the gateway options, a runner."""
    parser: argparse.ArgumentParser = verbs.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[connection_options()],
    )
    if reads:
        format_option(parser)
    for parent in getattr(verbs, "crm_parents", []):
        parent.epilog += f"\n  {examples[0]}"
    parser.set_defaults(run=_runner(parser.prog, run))
    return parser


def _runner(prog: str, run: Run) -> Callable[[argparse.Namespace], None]:
    area = " ".join(prog.split()[:2])  # `crm org`, `crm pressure`: the prefix of every error

    def go(args: argparse.Namespace) -> None:
        try:
            gateway = Gateway(args.gateway, args.token, args.timeout)
            emit(run(gateway, args), getattr(args, "format", "json"))
        except CliError as error:
            print(f"{area}: {error}", file=sys.stderr)
            sys.exit(error.exit_code)

    return go


def emit(value: Any, form: str = "json") -> None:
    """Prints an answer: JSON as the gateway gave it, or its rows as a table or CSV."""
    if value is None:
        return
    if form == "json":
        print(json.dumps(value, indent=2, ensure_ascii=False))
        return
    rows = [flatten(row) for row in rows_of(value)]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if form == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[row.get(c, "") for c in columns] for row in rows])
    elif len(rows) == 1:
        # One object (a campaign, a request): one `key  value` line per field reads best.
        width = max((len(c) for c in columns), default=0)
        for column in columns:
            print(f"{column.ljust(width)}  {rows[0][column]}")
    else:
        print_table(columns, [[row.get(c, "") for c in columns] for row in rows])


def rows_of(value: Any) -> list[dict[str, Any]]:
    """The items of a list answer (`{"campaigns": [...]}`), or the one object answered."""
    if isinstance(value, list):
        return [v if isinstance(v, dict) else {"value": v} for v in value]
    if isinstance(value, dict):
        lists = [k for k, v in value.items() if isinstance(v, list) and k != "next_page_token"]
        if len(lists) == 1 and all(
            isinstance(v, list) or k == "next_page_token" for k, v in value.items()
        ):
            return rows_of(value[lists[0]])
        return [value]
    return [{"value": value}]


def flatten(row: dict[str, Any]) -> dict[str, str]:
    """One level of nesting becomes dotted columns (`outcome_counts.sent`); deeper is JSON."""
    flat: dict[str, str] = {}
    for key, value in row.items():
        if (
            isinstance(value, dict)
            and value
            and all(not isinstance(v, dict | list) for v in value.values())
        ):
            for inner, item in value.items():
                flat[f"{key}.{inner}"] = _cell(item)
        else:
            flat[key] = _cell(value)
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Columns padded to their widest cell, a header underlined with dashes."""
    body = [list(r) for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in body)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in body:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def paged(gateway: Gateway, args: argparse.Namespace, path: str, items: str, **query: Any) -> Any:
    """A paged list: every page followed, or only the page `--page-token` names."""
    query["page_size"] = getattr(args, "page_size", 0)
    if getattr(args, "page_token", ""):
        return gateway.call("GET", path, query={**query, "page_token": args.page_token})
    return {items: list(gateway.pages(path, items, query))}


def page_options(parser: argparse.ArgumentParser, what: str) -> None:
    """--page-size and --page-token of a paged list (without a token every page is read)."""
    parser.add_argument(
        "--page-size", type=int, default=0, help=f"{what} asked per request (0: the gateway's)"
    )
    parser.add_argument(
        "--page-token",
        default="",
        help="only this page (a next_page_token printed before); default: every page",
    )


@contextmanager
def replaced_on_success(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file written beside `path` that replaces it only once written whole.

    An interrupted or refused run leaves any earlier file at `path` as it was,
    and no half-written one.
    """
    part = path.with_name(f".{path.name}.part")
    text = "b" not in mode  # a text file is UTF-8, its newlines left to the writer (csv)
    try:
        with open(
            part, mode, encoding="utf-8" if text else None, newline="" if text else None
        ) as out:
            yield out
        os.replace(part, path)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}") from None
    finally:
        part.unlink(missing_ok=True)


def read_json_file(path: str, option: str) -> Any:
    """A JSON document from a file; CliError naming the option when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise CliError(f"{option}: cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise CliError(f"{option}: {path} is not JSON: {error}") from None
