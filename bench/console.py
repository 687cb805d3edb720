"""Benchmark: the first page of a campaign's preview, for one campaign of 100,000 recipients.

Starts the mesh of the end-to-end tests (tests/support/mesh.py: real processes,
PostgreSQL and Redis on this machine, a test identity provider), then seeds
`--recipients` people of one component who consented to the newsletter
straight into the services' databases: contacts with one INSERT ... SELECT per
table, consent's grants with COPY (bench/consent_data.py's event lines), so
100,000 recipients take seconds instead of the minutes the API would need.
One draft campaign to the whole component is created through the API.

Then it times ONE request of the console's preview page
`/console/campaigns/<id>/preview` (signed in through the provider as the
component's manager), `--runs` times: the first starts the reach count in
campaigns' background, the next ones read its progress. It follows the count
through `GET /v1/campaigns/<id>/reach` (time until done, recipients/s), times
the page again once counted, and, unless `--skip-rest`, the REST
`GET /v1/campaigns/<id>/preview?page_size=100` (which counts every outcome
synchronously only up to CAMPAIGNS_PREVIEW_COUNT_MAX recipients, 2,000; a larger
audience's first page answers at once with `counts_deferred`). Prints
min/median/max, the rows returned and the aim (under one second). Asserts
nothing.

    python -m bench.console [--recipients 100000] [--runs 5] [--skip-rest]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.consent_data import EVENT_COLUMNS, NULL, _line
from bench.mailing import Figures
from tests.support.console import Page, person
from tests.support.mesh import Mesh

COMPONENT = "sciences"
AIM_SECONDS = 1.0
PAGE_SIZE = 100
ID_SALT = "bench-console-"
GRANT_TEXT = "J'accepte de recevoir la lettre de la faculté."

# Contacts: the people, their values (owned by the component), the address join key and
# the membership that puts them in the component's audience. Ids are md5-derived UUIDs,
# so Python computes the same ones for consent's events (contact_id below).
CONTACTS_SEED = (
    """
insert into contacts (id, kind, created_at, updated_at)
select md5(:salt || i)::uuid::text, 'person', :at, :at from generate_series(1, :count) as i
""",
    """
insert into contact_values (contact_id, field, owner_component, value, number_value,
  updated_by, updated_at)
select md5(:salt || i)::uuid::text, f.field, :component,
  case f.field when 'email' then 'r' || i || '@bench.example.org'
               when 'first_name' then 'Prénom' || i else 'Nom' || i end,
  null, 'bench', :at
from generate_series(1, :count) as i
cross join (values ('email'), ('first_name'), ('last_name')) as f(field)
""",
    """
insert into contact_addresses (address, contact_id)
select 'r' || i || '@bench.example.org', md5(:salt || i)::uuid::text
from generate_series(1, :count) as i
""",
    """
insert into memberships (contact_id, component_id, created_at)
select md5(:salt || i)::uuid::text, :component, :at from generate_series(1, :count) as i
""",
)
CONTACTS_TABLES = ("contacts", "contact_values", "contact_addresses", "memberships")


def contact_id(i: int) -> str:
    """The id CONTACTS_SEED gives person `i` (PostgreSQL's md5(text)::uuid)."""
    return str(uuid.UUID(hashlib.md5(f"{ID_SALT}{i}".encode()).hexdigest()))


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed_contacts(url: str, count: int) -> None:
    values = {"salt": ID_SALT, "count": count, "component": COMPONENT, "at": datetime.now(UTC)}
    with psycopg.connect(_dsn(url), autocommit=True) as connection:
        for sql in CONTACTS_SEED:
            # psycopg's named placeholders: %(name)s.
            connection.execute(_named(sql), values)
        for table in CONTACTS_TABLES:
            connection.execute(f"VACUUM (ANALYZE) {table}")  # type: ignore[arg-type]


def _named(sql: str) -> Any:
    for name in ("salt", "count", "component", "at"):
        sql = sql.replace(f":{name}", f"%({name})s")
    return sql


def _grant_blocks(count: int, at: str, block: int = 20_000) -> Iterator[str]:
    """One standing newsletter grant (email, the component's scope) per person, as COPY text."""
    lines: list[str] = []
    for i in range(1, count + 1):
        fields = [
            contact_id(i),
            "granted",
            "email",
            "newsletter",
            "component",
            COMPONENT,
            "consent",
            "f",
            NULL,
        ]
        line = _line(str(uuid.uuid4()), fields, "staff", at, person_made=False)
        lines.append(line.replace("J'accepte de recevoir ces messages.", GRANT_TEXT))
        if len(lines) >= block:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def seed_consent(url: str, count: int) -> None:
    at = datetime.now(UTC).isoformat()
    with psycopg.connect(_dsn(url), autocommit=True) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY consent_events ({EVENT_COLUMNS}) FROM STDIN") as copy:
                for text_block in _grant_blocks(count, at):
                    copy.write(text_block)
        connection.execute("VACUUM (ANALYZE) consent_events")


def timed(runs: int, request: Callable[[], tuple[int, int]]) -> tuple[list[float], int, int]:
    """Seconds of each run, and the last run's status and rows."""
    seconds: list[float] = []
    status = rows = 0
    for _ in range(runs):
        started = time.perf_counter()
        status, rows = request()
        seconds.append(time.perf_counter() - started)
    return seconds, status, rows


def add_times(figures: Figures, label: str, seconds: list[float]) -> None:
    median = statistics.median(seconds)
    verdict = "within" if median < AIM_SECONDS else "OVER"
    figures.add(
        label,
        f"min {min(seconds):.3f} s, median {median:.3f} s, max {max(seconds):.3f} s "
        f"({verdict} the aim of {AIM_SECONDS:.0f} s)",
    )


def _detail(body: str) -> str:
    """A problem's detail, else the start of the body."""
    try:
        return str(json.loads(body).get("detail", ""))
    except (ValueError, AttributeError):
        return body[:120]


def _console_rows(page: Page) -> int:
    """Recipient rows of the console's preview table (rows with a data-label'd cell)."""
    return page.html.count("<tr") - page.html.count("<thead")


def wait_reach(
    mesh: Mesh, token: str, campaign_id: str, figures: Figures, started: float, timeout: float
) -> dict[str, Any]:
    """Polls GET /v1/campaigns/<id>/reach until the count is over; prints its progress."""
    path = f"/v1/campaigns/{campaign_id}/reach"
    reach: dict[str, Any] = {}
    next_print = 0.0
    while time.perf_counter() - started < timeout:
        answer = mesh.api.call("GET", path, token)
        if answer.status != 200:
            figures.add("reach refused", f"{answer.status} {_detail(answer.text)}")
            return {}
        reach = answer.json
        elapsed = time.perf_counter() - started
        if elapsed >= next_print:
            print(
                f"  reach {reach.get('status')}: {reach.get('evaluated')} of "
                f"{reach.get('audience')} after {elapsed:.1f} s",
                flush=True,
            )
            next_print = elapsed + 5.0
        if reach.get("status") != "counting":
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    evaluated = int(reach.get("evaluated") or 0)
    figures.add(
        "reach count (background)",
        f"{reach.get('status')}: {evaluated} of {reach.get('audience')} in {elapsed:.1f} s "
        f"({evaluated / elapsed:.0f} recipients/s, polled every 0.5 s)",
    )
    return reach


def rest_preview(mesh: Mesh, token: str, campaign_id: str, runs: int, figures: Figures) -> None:
    """The REST preview's first page (counted synchronously only for a small audience)."""
    path = f"/v1/campaigns/{campaign_id}/preview?page_size={PAGE_SIZE}"
    last: dict[str, Any] = {}
    refusals: list[str] = []

    def rest() -> tuple[int, int]:
        answer = mesh.api.call("GET", path, token)
        if answer.status != 200:
            refusals.append(f"{answer.status} {_detail(answer.text)}")
            return answer.status, 0
        last.update(answer.json)
        return answer.status, len(answer.json["recipients"])

    seconds, status, rows = timed(runs, rest)
    add_times(figures, f"REST preview, first page (x{runs})", seconds)
    figures.add("REST status, rows returned", f"{status}, {rows}")
    if refusals:
        figures.add("REST refusals", f"{len(refusals)} of {runs}: {refusals[-1]}")
    if last:
        figures.add(
            "REST audience, counts, counts_deferred",
            f"{last.get('audience')}, {last.get('counts')}, {last.get('counts_deferred')}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--skip-rest",
        action="store_true",
        help="do not time the REST preview (it counts the whole audience per request)",
    )
    parser.add_argument("--reach-timeout", type=float, default=1800.0)
    args = parser.parse_args()
    figures = Figures(f"preview of one campaign of {args.recipients} recipients, first page")
    with tempfile.TemporaryDirectory() as workdir, Mesh(Path(workdir), pressure_max=1000) as mesh:
        admin, manager = mesh.keys.admin(), mesh.keys.manager(COMPONENT)
        reply = mesh.api.call("POST", "/v1/components", admin, {"id": COMPONENT, "name": "S"})
        assert reply.status == 201, reply.text
        started = time.perf_counter()
        seed_contacts(mesh.database_urls["contacts"], args.recipients)
        contacts_seconds = time.perf_counter() - started
        seed_consent(mesh.database_urls["consent"], args.recipients)
        seeding = time.perf_counter() - started
        figures.add(
            "seeding (direct to PostgreSQL)",
            f"{seeding:.1f} s (contacts {contacts_seconds:.1f} s, consent "
            f"{seeding - contacts_seconds:.1f} s)",
        )
        body = {
            "name": "Bench preview",
            "purpose": "newsletter",
            "subject_template": "Bonjour {{ first_name }}",
            "body_template": "Bonjour {{ first_name }} {{ last_name }},\nla lettre.\n",
            "audience": {"all_of_component": True},
        }
        reply = mesh.api.call("POST", "/v1/campaigns", manager, body)
        assert reply.status == 201, reply.text
        campaign_id = reply.json["id"]
        console = mesh.console()
        console.sign_in(person(COMPONENT, ["campaign_manager", "contact_editor"]))
        console_path = f"/console/campaigns/{campaign_id}/preview"

        def page() -> tuple[int, int]:
            answer = console.get(console_path)
            return answer.status, _console_rows(answer)

        # The first request starts the reach count in campaigns; the next ones read its progress.
        count_started = time.perf_counter()
        seconds, status, rows = timed(args.runs, page)
        add_times(figures, f"console preview page while counting (x{args.runs})", seconds)
        figures.add("console status, table rows", f"{status}, {rows}")
        reach = wait_reach(mesh, manager, campaign_id, figures, count_started, args.reach_timeout)
        if reach.get("status") == "done":
            seconds, status, rows = timed(args.runs, page)
            add_times(figures, f"console preview page once counted (x{args.runs})", seconds)
            figures.add("audience, counts", f"{reach.get('audience')}, {reach.get('counts')}")
        if not args.skip_rest:
            rest_preview(mesh, manager, campaign_id, args.runs, figures)
    figures.add("aim", f"first page in one request under {AIM_SECONDS:.0f} s")
    figures.print()


if __name__ == "__main__":
    main()
