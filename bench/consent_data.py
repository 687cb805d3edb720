"""Seed data for bench.consent: contacts' consent events, merges and suppressed addresses.

Written straight into a migrated consent database with PostgreSQL COPY (one
stream per table), so a million events take seconds, not the hours one
RecordConsent per event would. The mix is deterministic (a seeded random) and
shaped like a grouping's history: mostly grants and withdrawals, some denials,
expiries and revalidations, a few Art. 21 objections, double opt-in grants
most of which were confirmed, a few merged records and suppressed addresses.
Every row satisfies the consent_events check constraints.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from services.consent import suppression

COMPONENTS = ("sciences", "droit", "medecine", "lettres", "iut")
# The seeded catalogue (migration 0004), the newsletter most used.
PURPOSES = (
    ("newsletter", 30),
    ("events", 20),
    ("alumni", 15),
    ("fundraising", 10),
    ("continuing_education", 10),
    ("apprenticeship_tax", 8),
    ("research_partnerships", 7),
)
KINDS = (  # weights: an Art. 21 objection is rare (one event in 200)
    ("granted", 100),
    ("withdrawn", 40),
    ("denied", 12),
    ("revalidated", 12),
    ("expired", 8),
    ("confirmed", 8),
    ("objected", 1),
)
DOMAINS = (
    "gmail.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "yahoo.fr",
    "outlook.fr",
    "etu.univ.example.fr",
    "univ.example.fr",
    "entreprise.example.com",
    "cabinet-avocats.example.fr",
    "chu.example.fr",
    "mairie.example.fr",
)
PROFESSIONAL_DOMAINS = frozenset(DOMAINS[6:])
EVENT_COLUMNS = (
    "id, contact_id, kind, channel, purpose, scope_kind, scope_component, legal_basis, "
    "pending, refers_to, actor_subject, actor_component, how, source, ip, user_agent, "
    "text_shown, recorded_at"
)
START = datetime(2021, 1, 1, tzinfo=UTC)
NULL = "\\N"


@dataclass(frozen=True)
class Person:
    """A seeded contact as a campaign would ask about it."""

    contact_id: str
    address: str
    professional: bool


@dataclass(frozen=True)
class Seeded:
    people: list[Person]
    events: int
    merged: int
    suppressed: int  # of the people's addresses (more hashes are listed)


def people(count: int, rng: random.Random) -> list[Person]:
    """`count` contacts with an address each; about a third at a professional domain."""
    result = []
    for i in range(count):
        domain = rng.choice(DOMAINS)
        contact_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        result.append(Person(contact_id, f"person.{i}@{domain}", domain in PROFESSIONAL_DOMAINS))
    return result


def seed(url: str, count: int, events: int, secret: bytes, rng: random.Random) -> Seeded:
    """Fills the consent tables of the (migrated, empty) database at `url`."""
    seeded_people = people(count, rng)
    ids = [p.contact_id for p in seeded_people]
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        with connection.cursor() as cursor:
            renewals_refer = _revalidations_refer(cursor)
            with cursor.copy(f"COPY consent_events ({EVENT_COLUMNS}) FROM STDIN") as copy:
                for block in _event_blocks(ids, events, rng, renewals_refer):
                    copy.write(block)
            merged = rng.sample(range(count), count // 200)
            with cursor.copy(
                "COPY consent_contact_aliases (merged_id, survivor_id, merge_seq, merged_at)"
                " FROM STDIN"
            ) as copy:
                for index in merged:
                    survivor = ids[(index + 1) % count]
                    copy.write_row((ids[index], survivor, rng.randint(1, events), START))
            listed = rng.sample(seeded_people, count // 50)
            hashes = {suppression.address_hash(secret, p.address) for p in listed}
            # Addresses of people outside this benchmark: the list is larger than the batch.
            hashes |= {f"{rng.getrandbits(256):064x}" for _ in range(count // 5)}
            with cursor.copy(
                "COPY consent_suppressions (hash, reason, recorded_at) FROM STDIN"
            ) as copy:
                for digest in hashes:
                    copy.write_row((digest, rng.choice(("objected", "erased", "bounced")), START))
        for table in ("consent_events", "consent_contact_aliases", "consent_suppressions"):
            connection.execute(f"VACUUM (ANALYZE) {table}")
    return Seeded(seeded_people, events, len(merged), len(listed))


def _revalidations_refer(cursor: psycopg.Cursor[Any]) -> bool:
    """Does this schema want a revalidation to name the grant it renews (migration 0007)?"""
    cursor.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = 'ck_consent_events_refers_to'"
    )
    found = cursor.fetchone()
    return found is not None and "revalidated" in str(found[0])


Grant = tuple[str, str, str, str, str, str]  # id, contact, channel, purpose, scope kind, component


def _event_blocks(
    ids: list[str], total: int, rng: random.Random, renewals_refer: bool
) -> Iterator[str]:
    """The events as COPY text, in blocks; seq (the total order) follows recorded_at.

    A confirmation confirms a pending grant, a revalidation renews a standing one
    (naming it when the schema asks).
    """
    kinds = [k for k, weight in KINDS for _ in range(weight)]
    purposes = [p for p, weight in PURPOSES for _ in range(weight)]
    pending: list[Grant] = []  # grants awaiting confirmation
    standing: list[Grant] = []  # grants that may be renewed
    step = timedelta(days=5 * 365) / max(total, 1)
    lines: list[str] = []
    for n in range(total):
        if len(lines) >= 20_000:
            yield "".join(lines)
            lines = []
        at = (START + step * n).isoformat()
        kind = rng.choice(kinds)
        if (kind == "confirmed" and not pending) or (kind == "revalidated" and not standing):
            kind = "granted"
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if kind in ("confirmed", "revalidated"):
            pool = pending if kind == "confirmed" else standing
            grant_id, contact, channel, purpose, scope_kind, component = pool.pop(
                rng.randrange(len(pool))
            )
            refers_to = grant_id if kind == "confirmed" or renewals_refer else NULL
            fields = [contact, kind, channel, purpose, scope_kind, component, NULL, "f", refers_to]
            how = "web_form" if kind == "confirmed" else "revalidation_job"
            lines.append(_line(event_id, fields, how, at, person_made=kind == "confirmed"))
            continue
        contact = ids[rng.randrange(len(ids))]
        if kind == "objected":
            channel = "email" if rng.random() < 0.5 else NULL
            fields = [contact, kind, channel, NULL, "grouping", NULL, NULL, "f", NULL]
            lines.append(_line(event_id, fields, "one_click", at, person_made=True))
            continue
        channel = "email" if rng.random() < 0.85 else "post"
        purpose = rng.choice(purposes)
        grouping = rng.random() < 0.3
        scope_kind, component = ("grouping", NULL) if grouping else ("component", "")
        if not grouping:
            component = rng.choice(COMPONENTS)
        basis, is_pending = NULL, "f"
        if kind == "granted":
            basis = "consent" if rng.random() < 0.95 else "legitimate_interest"
            grant = (event_id, contact, channel, purpose, scope_kind, component)
            if rng.random() < 0.06:
                is_pending = "t"
                pending.append(grant)
            else:
                standing.append(grant)
        fields = [contact, kind, channel, purpose, scope_kind, component, basis, is_pending, NULL]
        how = "retention_job" if kind == "expired" else ""
        if not how:
            how = rng.choice(("staff", "staff", "web_form", "import", "one_click", "phone_agent"))
        lines.append(_line(event_id, fields, how, at, person_made=how in ("web_form", "one_click")))
    if lines:
        yield "".join(lines)


def _line(event_id: str, fields: list[str], how: str, at: str, person_made: bool) -> str:
    if person_made:
        actor, actor_component, ip, agent = "service:gateway", NULL, "192.0.2.10", "Mozilla/5.0"
    elif how.endswith("_job"):
        actor, actor_component, ip, agent = "service:consent", NULL, NULL, NULL
    else:
        actor, actor_component, ip, agent = "agent@sciences", "sciences", NULL, NULL
    text_shown = "J'accepte de recevoir ces messages." if fields[1] == "granted" else NULL
    row = [event_id, *fields, actor, actor_component, how, "bench", ip, agent, text_shown, at]
    return "\t".join(row) + "\n"
