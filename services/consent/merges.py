"""Merged contacts: contacts tells consent that two records are one person.

A merge appends one alias row (consent_events stays untouched, append-only).
From then on, every verdict asked for the survivor or the merged id reads the
events of both ids, combined strictest first (policy.decide_person).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.db import Database
from meshkit.errors import Violations
from meshkit.identity import Principal
from services.consent import policy, repository
from services.consent.domain import (
    BasisRule,
    BatchEvent,
    Channel,
    CheckItem,
    Purpose,
    Question,
    Verdict,
)
from services.consent.models import ConsentEventRow, ContactAliasRow

MAX_ID = 64


def merge_contacts(db: Database, principal: Principal, survivor_id: str, merged_id: str) -> None:
    """Records that `merged_id` is now `survivor_id` (services only; idempotent)."""
    principal.require_service()
    problems = Violations()
    for name, value in (("survivor_id", survivor_id), ("merged_id", merged_id)):
        if not value or len(value) > MAX_ID:
            problems.add(name, "is required (at most 64 characters)")
    if survivor_id and survivor_id == merged_id:
        problems.add("merged_id", "is the survivor itself")
    problems.raise_if_any()
    with db.transaction() as session:
        merge_seq = session.scalar(select(func.coalesce(func.max(ConsentEventRow.seq), 0)))
        # Ids merged into the merged one before now follow it to the survivor.
        session.execute(
            update(ContactAliasRow)
            .where(ContactAliasRow.survivor_id == merged_id)
            .values(survivor_id=survivor_id, merge_seq=merge_seq)
        )
        session.execute(
            _insert(session)
            .values(
                merged_id=merged_id,
                survivor_id=survivor_id,
                merge_seq=merge_seq,
                merged_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["merged_id"])
        )


def people(
    session: Session, contact_ids: Collection[str]
) -> tuple[dict[str, str], dict[str, set[str]], dict[str, int]]:
    """For these ids: the survivor of each (itself when not merged), every id of each
    survivor, and the latest merge seq of each merged person. One query for any batch."""
    ids = set(contact_ids)
    alias = ContactAliasRow
    asked = repository.values_of(session, ids)
    related = select(alias.survivor_id).where(alias.merged_id.in_(asked))
    rows = session.execute(
        select(alias.merged_id, alias.survivor_id, alias.merge_seq).where(
            alias.merged_id.in_(asked)
            | alias.survivor_id.in_(asked)
            | alias.survivor_id.in_(related.scalar_subquery())
        )
    ).all()
    survivor = {i: i for i in ids}
    group: dict[str, set[str]] = defaultdict(set)
    merge_seq: dict[str, int] = {}
    for merged_id, survivor_id, seq in rows:
        survivor[merged_id] = survivor_id
        group[survivor_id].add(merged_id)
        merge_seq[survivor_id] = max(merge_seq.get(survivor_id, 0), int(seq))
    for person in set(survivor.values()):
        group[person].add(person)
    return survivor, dict(group), merge_seq


def decide_batch(
    session: Session,
    items: Sequence[CheckItem],
    channel: Channel,
    purpose: Purpose,
    rules: Sequence[BasisRule],
    component: str,
) -> list[tuple[str, Verdict]]:
    """One verdict per requested item, each read across every id of its person.

    Two queries whatever the batch size: the aliases, then the events that may bear
    on the question. What does not depend on the item (the question for each kind
    of contact, the verdict of a person without any such event) is worked out once.
    """
    survivor, group, merge_seq = people(session, [item.contact_id for item in items])
    # An id may belong to two people when a merged record later took another one in.
    people_of: dict[str, list[str]] = defaultdict(list)
    for person, ids in group.items():
        for contact_id in ids:
            people_of[contact_id].append(person)
    questions = {
        professional: Question(
            purpose.key,
            channel,
            component,
            purpose.marketing,
            policy.basis_for(rules, purpose.key, channel, policy.contact_kind(professional)),
        )
        for professional in (False, True)
    }
    by_person: dict[str, list[BatchEvent]] = defaultdict(list)
    # The two questions differ only by their basis, which no event filter reads.
    for event in repository.batch(session, people_of.keys(), questions[False]):
        for person in people_of[event.contact_id]:
            by_person[person].append(event)
    # With no event, decide_person gives the basis rule's verdict, merged or not.
    no_event = {p: policy.verdict_of(None, q.basis) for p, q in questions.items()}
    verdicts = []
    for item in items:
        person = survivor[item.contact_id]
        events = by_person.get(person)
        if events is None:
            verdict = no_event[item.professional_address]
        else:
            question = questions[item.professional_address]
            verdict = policy.decide_person(events, merge_seq.get(person), question)
        verdicts.append((item.contact_id, verdict))
    return verdicts


def _insert(session: Session) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(ContactAliasRow)
    return sqlite.insert(ContactAliasRow)
