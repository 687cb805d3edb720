"""The consent store in-process, on SQLite and PostgreSQL: migrations, triggers, one query.

Writes ask the real contacts process of the session whether the contact exists,
so each test creates the contacts it records consent for.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy.exc
from alembic.config import Config
from alembic.script import ScriptDirectory
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, inspect, text

from meshkit.db import Database, make_engine
from meshkit.errors import InvalidArgument
from meshkit.identity import ROLE_ADMIN, ROLE_SERVICE, Principal
from services.consent import merges, policy, proofs, repository, service
from services.consent.bootstrap import MIGRATIONS, VERSION_TABLE, migrate_schema
from services.consent.clients import GrpcContacts
from services.consent.domain import (
    Channel,
    CheckItem,
    ConsentEvent,
    Decision,
    EventKind,
    How,
    LegalBasis,
    Purpose,
    Question,
    Scope,
    Verdict,
)
from services.consent.domain import Collection as Collected
from services.consent.repository import NewEvent
from services.consent.suppression import Reason
from services.consent.validation import BatchRequest, ChangeRequest
from tests.integration.campaigns.peers import CallLog
from tests.integration.consent.harness import RunningContacts
from tests.support.stores import fresh_postgres

MANAGER = Principal("alice@law", component="law", roles=frozenset({"campaign_manager"}))
CAMPAIGNS = Principal("service:campaigns", roles=frozenset({ROLE_SERVICE}))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('consent-store') / 'consent.db'}"
        yield from _migrated(url)
    else:
        with fresh_postgres("consent_store") as url:
            yield from _migrated(url)


def _migrated(url: str) -> Iterator[Database]:
    engine = make_engine(url)
    migrate_schema(engine)
    migrate_schema(engine)  # a second run (another replica starting) changes nothing
    try:
        yield Database(engine)
    finally:
        engine.dispose()


def grant_request(contact_id: str) -> ChangeRequest:
    """A valid e-mail newsletter grant for the law component."""
    return ChangeRequest(
        contact_id, Channel.EMAIL, "newsletter", Scope.of("law"), None, "web", "I agree"
    )


def _head() -> str:
    """The latest revision of the consent migrations (one head)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_the_schema_is_versioned_in_the_consent_table(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {"consent_events", "consent_suppressions", VERSION_TABLE} <= tables
    with db.engine.connect() as connection:
        versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    assert [v for (v,) in versions] == [_head()]


def _head() -> str:
    """The latest revision of the consent migrations (one head)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    (head,) = ScriptDirectory.from_config(config).get_heads()
    return str(head)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE consent_events SET kind = 'withdrawn'", "DELETE FROM consent_events"],
)
def test_recorded_events_cannot_be_updated_or_deleted(
    db: Database, statement: str, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    service.grant(db, directory[0], MANAGER, grant_request(contacts.new_contact()))
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
        with db.engine.begin() as connection:
            connection.execute(text(statement))


SECRET = b"suppression test secret"


def _statements_of(db: Database, request: BatchRequest) -> tuple[int, list[tuple[str, Verdict]]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        results = service.check_batch(db, CAMPAIGNS, request, SECRET)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements), results


def test_a_batch_takes_as_many_statements_for_10_as_for_10000_items(
    db: Database, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    granted = [contacts.new_contact() for _ in range(10)]
    for contact_id in granted:
        service.grant(db, directory[0], MANAGER, grant_request(contact_id))
    business = CheckItem(granted[0], "a@example.org", professional_address=True)
    few = [CheckItem(c) for c in granted[1:]] + [business]
    many = few + [
        CheckItem(f"c-batch-{i}", f"b{i}@example.org", professional_address=i % 2 == 0)
        for i in range(9990)
    ]
    small, answers = _statements_of(db, BatchRequest("law", Channel.EMAIL, "newsletter", items=few))
    large, results = _statements_of(
        db, BatchRequest("law", Channel.EMAIL, "newsletter", items=many)
    )
    # The purpose, its basis rules, the merge aliases of the batch's people, their events,
    # the suppression list.
    assert small == large <= 5
    assert answers == results[:10]
    assert [c for c, _ in results] == [i.contact_id for i in many]
    decisions = [v.decision for _, v in results]
    assert decisions[:10] == [Decision.CONSENT_GIVEN] * 10
    # Without any event: a business contact at a work address on legitimate interest
    # (the seeded rule), a consumer not at all.
    assert decisions[10::2] == [Decision.LEGITIMATE_INTEREST] * 4995
    assert decisions[11::2] == [Decision.NO_CONSENT] * 4995
    assert results[10][1].basis is LegalBasis.LEGITIMATE_INTEREST


def test_an_item_whose_address_is_suppressed_is_refused_whatever_its_consent(
    db: Database, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    granted = contacts.new_contact()
    service.grant(db, directory[0], MANAGER, grant_request(granted))
    items = [
        CheckItem(granted, " Objected@Example.ORG "),
        CheckItem(granted, "kept@example.org"),
        CheckItem("c-business", "objected@example.org", professional_address=True),
        CheckItem("c-odd", "not an address"),
    ]
    request = BatchRequest("law", Channel.EMAIL, "newsletter", items=items)
    before = [v.decision for _, v in service.check_batch(db, CAMPAIGNS, request, SECRET)]
    assert before == [
        Decision.CONSENT_GIVEN,
        Decision.CONSENT_GIVEN,
        Decision.LEGITIMATE_INTEREST,
        Decision.NO_CONSENT,
    ]
    proofs.suppress(db, SECRET, CAMPAIGNS, ["objected@example.org"], Reason.OBJECTED)
    after = service.check_batch(db, CAMPAIGNS, request, SECRET)
    assert [v.decision for _, v in after] == [
        Decision.SUPPRESSED,
        Decision.CONSENT_GIVEN,
        Decision.SUPPRESSED,
        Decision.NO_CONSENT,
    ]
    assert not any(v.allowed for _, v in after if v.decision is Decision.SUPPRESSED)


def test_recorded_at_is_the_server_clock_in_utc(
    db: Database, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    paris = timezone(timedelta(hours=2))
    at = datetime(2024, 6, 1, 12, 0, tzinfo=paris)
    contact = contacts.new_contact()
    recorded = service.grant(db, directory[0], MANAGER, grant_request(contact), clock=lambda: at)
    [stored] = service.history(db, directory[0], MANAGER, contact).events
    assert recorded.recorded_at == stored.recorded_at == at
    assert stored.recorded_at.utcoffset() == timedelta(0)
    assert stored.recorded_at == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def test_seq_orders_history_whatever_the_clock_says(
    db: Database, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    later, earlier = datetime(2030, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)
    contact, asks = contacts.new_contact(), directory[0]
    first = service.grant(db, asks, MANAGER, grant_request(contact), clock=lambda: later)
    second = service.withdraw(db, asks, MANAGER, grant_request(contact), clock=lambda: earlier)
    history = service.history(db, directory[0], MANAGER, contact).events
    assert [e.id for e in history] == [first.id, second.id]
    [(_, verdict)] = service.check_batch(
        db, CAMPAIGNS, BatchRequest("law", Channel.EMAIL, "newsletter", [contact]), SECRET
    )
    assert verdict.decision is Decision.WITHDRAWN and verdict.deciding_event_id == second.id


def test_the_batched_check_gives_each_person_the_verdict_of_their_whole_history(
    db: Database,
) -> None:
    """The batch reads only the events that may bear on its question (a filter in SQL):
    for random histories, merges included, its verdicts are the ones the policy gives
    from each person's every event."""
    rng = random.Random(12)
    ids = [f"c-agree-{i}" for i in range(40)]
    # Confirmations are drawn for pending grants below; a revalidation reads like a grant
    # (and from migration 0007 on names the grant it renews), so none is written here.
    kinds = [k for k in EventKind if k not in (EventKind.CONFIRMED, EventKind.REVALIDATED)]
    scopes = [Scope.grouping(), Scope.of("law"), Scope.of("sciences")]
    grants: list[ConsentEvent] = []
    with db.transaction() as session:
        repository.add_purpose(
            session, Purpose("tax_receipts", None, "Reçus", "Receipts", frozenset(Channel))
        )
    for n in range(400):
        if n % 50 == 49:  # now and then two records of one person are merged
            survivor, merged = rng.sample(ids, 2)
            merges.merge_contacts(db, CAMPAIGNS, survivor, merged)
            continue
        with db.transaction() as session:
            grant = rng.choice(grants) if grants and rng.random() < 0.1 else None
            new = _random_event(rng, rng.choice(ids), rng.choice(kinds), scopes, grant)
            stored = repository.append(session, CAMPAIGNS, new, datetime.now(UTC))
            if stored is not None and stored.pending:
                grants.append(stored)
    items = [CheckItem(c, professional_address=i % 3 == 0) for i, c in enumerate(ids)]
    for purpose in ("newsletter", "events", "tax_receipts"):
        for channel in (Channel.EMAIL, Channel.POST):
            for component in ("law", "sciences"):
                request = BatchRequest(component, channel, purpose, items=items)
                verdicts = service.check_batch(db, CAMPAIGNS, request, SECRET)
                expected = [_one_by_one(db, item, channel, purpose, component) for item in items]
                assert verdicts == expected


def _random_event(
    rng: random.Random,
    contact_id: str,
    kind: EventKind,
    scopes: list[Scope],
    grant: ConsentEvent | None,
) -> NewEvent:
    how = Collected(How.STAFF, "test")
    if grant is not None:  # the confirmation of a pending grant
        assert grant.channel is not None
        return NewEvent(
            grant.contact_id, EventKind.CONFIRMED, grant.channel, grant.purpose, grant.scope, how,
            refers_to=grant.id,
        )  # fmt: skip
    if kind is EventKind.OBJECTED:
        channel = rng.choice([None, Channel.EMAIL, Channel.POST])
        return NewEvent(contact_id, kind, channel, None, Scope.grouping(), how)
    purpose = rng.choice(["newsletter", "events", "tax_receipts"])
    granted = kind is EventKind.GRANTED
    return NewEvent(
        contact_id,
        kind,
        rng.choice([Channel.EMAIL, Channel.POST]),
        purpose,
        rng.choice(scopes),
        how,
        legal_basis=rng.choice(list(LegalBasis)) if granted else None,
        pending=granted and rng.random() < 0.3,
    )


def _one_by_one(
    db: Database, item: CheckItem, channel: Channel, purpose_key: str, component: str
) -> tuple[str, Verdict]:
    """The verdict from the person's whole history, as the state reads it."""
    with db.transaction() as session:
        survivor, group, merge_seq = merges.people(session, [item.contact_id])
        person = survivor[item.contact_id]
        events = repository.history(session, group[person])
        purpose = repository.purpose(session, purpose_key)
        rules = repository.rules(session, purpose_key)
    assert purpose is not None
    kind = policy.contact_kind(item.professional_address)
    basis = policy.basis_for(rules, purpose_key, channel, kind)
    question = Question(purpose_key, channel, component, purpose.marketing, basis)
    return item.contact_id, policy.decide_person(events, merge_seq.get(person), question)


def test_history_pages_cover_what_each_reader_sees_once_in_order(
    db: Database, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    """Keyset pages of a history mixing scopes: for any page size and reader, following
    the tokens gives exactly the events that reader may see, oldest first, each once (the
    scope filter is SQL, so a page is never short of visible events)."""
    asks = directory[0]
    sciences = Principal("bob@sciences", component="sciences", roles=frozenset({"staff"}))
    admin = Principal("root@grouping", roles=frozenset({ROLE_ADMIN}))
    contact = contacts.new_contact("sciences")

    def change(scope: Scope) -> ChangeRequest:
        return ChangeRequest(contact, Channel.EMAIL, "newsletter", scope, None, "web", "I agree")

    for by, scope in ((MANAGER, Scope.of("law")), (sciences, Scope.of("sciences"))):
        service.grant(db, asks, by, change(scope))
        service.withdraw(db, asks, by, change(scope))
        service.grant(db, asks, by, change(scope))
    service.withdraw(db, asks, admin, change(Scope.grouping()))
    every = service.history(db, asks, admin, contact, 1000).events
    assert len(every) == 7

    @settings(max_examples=25, deadline=None)
    @given(st.integers(1, 8), st.sampled_from([MANAGER, sciences, admin]))
    def pages_cover(size: int, reader: Principal) -> None:
        seen, token = [], ""
        while True:
            page = service.history(db, asks, reader, contact, size, token)
            assert len(page.events) <= size
            seen += page.events
            if not page.next_page_token:
                break
            assert len(page.events) == size
            token = page.next_page_token
        assert seen == [e for e in every if policy.may_see(reader, e.scope)]

    pages_cover()
    law_page = service.history(db, asks, MANAGER, contact, 1)
    with pytest.raises(InvalidArgument):  # bound to its reader's view, not only the contact
        service.history(db, asks, sciences, contact, 1, law_page.next_page_token)
    with pytest.raises(InvalidArgument):
        service.history(db, asks, MANAGER, contact, -1)
