"""Privacy requests in-process, on SQLite and PostgreSQL, against the real contacts process.

Campaigns' ExportContact/EraseContact and the suppression list are written in
parallel (see services/consent/privacy_clients.py): here a small stand-in takes
their place and can be switched off, to show that a step waits for its part.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, inspect, text

from meshkit.db import Database, make_engine
from meshkit.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from meshkit.grpc_client import open_channel
from meshkit.identity import Principal
from protos.crm.contacts.v1 import contacts_pb2
from services.consent import privacy_requests, service
from services.consent.bootstrap import migrate_schema
from services.consent.clients import GrpcContacts
from services.consent.domain import Channel, Scope
from services.consent.privacy_clients import GrpcContactsPrivacy
from services.consent.privacy_policy import Backoff, Kind, Part, Status, StepStatus
from services.consent.privacy_requests import Parts
from services.consent.privacy_validation import ListQuery, OpenRequest
from services.consent.validation import ChangeRequest
from tests.integration.consent.harness import OWNER, TIMEOUT, RunningConsent, RunningContacts
from tests.support.stores import fresh_postgres
from tests.support.tokens import TestKeys

DPO = Principal("dpo@grouping", roles=frozenset({"dpo"}))
COMPONENT_DPO = Principal("dpo@law", component=OWNER, roles=frozenset({"dpo"}))
MANAGER = Principal("alice@law", component=OWNER, roles=frozenset({"contact_editor"}))
SERVICE = Principal("service:gateway", roles=frozenset({"service"}))
START = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class StandIn:
    """A part written in parallel: records what it is asked, or does not answer when down."""

    def __init__(self) -> None:
        self.down = False
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def _answer(self, name: str, argument: Any) -> None:
        if self.down:
            raise Unavailable("down")
        with self._lock:
            self.calls.append((name, argument))

    def export(self, contact_id: str) -> dict[str, Any]:
        self._answer("export", contact_id)
        return {"deliveries": [{"campaign_id": "c-1", "outcome": "sent"}]}

    def erase(self, contact_id: str) -> None:
        self._answer("erase", contact_id)

    def suppress(self, addresses: Sequence[str], reason: str) -> None:
        self._answer("suppress", (sorted(addresses), reason))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('privacy') / 'consent.db'}"
        yield from _migrated(url)
    else:
        with fresh_postgres("consent_privacy") as url:
            yield from _migrated(url)


def _migrated(url: str) -> Iterator[Database]:
    engine = make_engine(url)
    migrate_schema(engine)
    try:
        yield Database(engine)
    finally:
        engine.dispose()


@pytest.fixture
def world(db: Database, keys: TestKeys, contacts: RunningContacts) -> Iterator[World]:
    identity = keys.identity("consent")
    channel = open_channel(contacts.target, identity.token, TIMEOUT)
    clock, campaigns, suppression = Clock(), StandIn(), StandIn()
    parts = Parts(
        directory=GrpcContacts(channel),
        contacts=GrpcContactsPrivacy(channel),
        campaigns=campaigns,
        suppression=suppression,
        backoff=Backoff(timedelta(seconds=30), timedelta(minutes=10)),
        clock=clock,
    )
    yield World(db, parts, clock, campaigns, suppression, contacts, keys)
    channel.close()


class World:
    def __init__(
        self,
        db: Database,
        parts: Parts,
        clock: Clock,
        campaigns: StandIn,
        suppression: StandIn,
        contacts: RunningContacts,
        keys: TestKeys,
    ):
        self.db, self.parts, self.clock = db, parts, clock
        self.campaigns, self.suppression = campaigns, suppression
        self.contacts, self.keys = contacts, keys

    def person(self) -> tuple[str, str, str]:
        """A contact of OWNER with an address and a name, and a consent; (id, address, name)."""
        tag = uuid.uuid4().hex[:10]
        address, name = f"p.{tag}@example.org", f"Name{tag}"
        reply = self.contacts.stub.CreateContact(
            contacts_pb2.CreateContactRequest(
                kind=contacts_pb2.CONTACT_KIND_PERSON,
                fields={"email": address, "last_name": name},
            ),
            metadata=RunningConsent.auth(self.keys.manager(OWNER)),
            timeout=TIMEOUT,
        )
        contact_id = str(reply.contact.id)
        change = ChangeRequest(
            contact_id, Channel.EMAIL, "newsletter", Scope.of(OWNER), None, "web", "I agree"
        )
        service.grant(self.db, self.parts.directory, MANAGER, change, clock=self.clock)
        return contact_id, address, name

    def open(self, kind: Kind, contact_id: str, **rectification: Any) -> str:
        raw = OpenRequest(kind, contact_id, **rectification)
        return privacy_requests.open_request(self.db, self.parts, DPO, raw)

    def advance(self) -> int:
        return privacy_requests.advance_open_requests(self.db, self.parts)

    def get(self, request_id: str) -> Any:
        return privacy_requests.get_request(self.db, DPO, request_id)

    def rows(self) -> int:
        with self.db.engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM consent_privacy_requests")
                ).scalar_one()
            )


def mentions(engine: Engine, needles: Sequence[str]) -> list[str]:
    """Every table.column of the database holding one of `needles` (text columns, all rows)."""
    found = []
    inspector = inspect(engine)
    with engine.connect() as connection:
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                rows = connection.execute(text(f'SELECT "{column["name"]}" FROM "{table}"'))
                for (value,) in rows:
                    if value is not None and any(n in str(value) for n in needles):
                        found.append(f"{table}.{column['name']}")
                        break
    return found


def test_an_erasure_suppresses_then_erases_every_part_and_forgets_the_person(
    world: World,
) -> None:
    contact_id, address, name = world.person()
    access = world.open(Kind.ACCESS, contact_id)
    world.advance()
    assert world.get(access).status is Status.DONE  # its export holds the name for now
    assert mentions(world.db.engine, [address, name])

    request_id = world.open(Kind.ERASURE, contact_id)
    assert world.advance() >= 1
    erased = world.get(request_id)
    assert erased.status is Status.DONE, erased
    assert [s.status for s in erased.steps] == [StepStatus.DONE] * 4
    assert world.suppression.calls == [("suppress", ([address], "erased"))]
    assert ("erase", contact_id) in world.campaigns.calls
    assert erased.contact_id is None
    # Nothing in consent's database names the person any more: not the id, not a value.
    assert mentions(world.db.engine, [contact_id, address, name]) == []
    # ... and contacts has erased its record.
    with pytest.raises(NotFound):
        world.parts.contacts.export(contact_id)
    # The requests are still found with the id the contacts tombstone keeps.
    page = privacy_requests.list_requests(world.db, DPO, ListQuery(contact_id, None, 0, ""))
    assert {r.id for r in page.requests} == {access, request_id}
    with pytest.raises(FailedPrecondition):
        privacy_requests.export_document(world.db, DPO, access)


def test_the_audit_trail_says_who_and_what_but_never_a_value(world: World) -> None:
    contact_id, address, name = world.person()
    request_id = world.open(Kind.ACCESS, contact_id)
    world.advance()
    document = privacy_requests.export_document(world.db, DPO, request_id, world.clock)
    trail = world.get(request_id).audit
    assert [(a.action, a.actor) for a in trail] == [
        ("opened", DPO.subject),
        ("attempted", "service:consent"),
        ("attempted", "service:consent"),
        ("attempted", "service:consent"),
        ("finished", "service:consent"),
        ("fetched", DPO.subject),
    ]
    assert [a.part for a in trail if a.action == "attempted"] == [
        Part.CONTACTS,
        Part.CONSENT,
        Part.CAMPAIGNS,
    ]
    assert all(address not in repr(a) and name not in repr(a) for a in trail)
    assert document["contact_id"] == contact_id
    values = {v["field"]: v["value"] for v in document["contacts"]["values"]}
    assert values["email"] == address and values["last_name"] == name
    [event] = document["consent"]["events"]
    assert (event["kind"], event["purpose"]) == ("granted", "newsletter")
    [standing] = [
        entry
        for entry in document["consent"]["state"]
        if (entry["channel"], entry["purpose"], entry["scope"])
        == ("email", "newsletter", {"component": OWNER})
    ]
    assert (standing["decision"], standing["allowed"]) == ("consent_given", True)
    assert standing["deciding_event_id"] == event["id"]
    assert document["campaigns"] == {"deliveries": [{"campaign_id": "c-1", "outcome": "sent"}]}


def test_a_part_that_does_not_answer_is_retried_with_backoff_until_it_does(
    world: World,
) -> None:
    contact_id, address, _ = world.person()
    world.suppression.down = True
    request_id = world.open(Kind.ERASURE, contact_id)
    world.advance()
    waiting = world.get(request_id)
    assert waiting.status is Status.IN_PROGRESS
    first = waiting.steps[0]
    assert (first.part, first.status, first.attempts, first.last_outcome) == (
        Part.SUPPRESSION,
        StepStatus.PENDING,
        1,
        "UNAVAILABLE",
    )
    assert [s.attempts for s in waiting.steps[1:]] == [0, 0, 0]  # nothing erased before
    world.advance()  # not due yet: the next try is 30 s later
    assert world.get(request_id).steps[0].attempts == 1
    world.clock.now += timedelta(seconds=30)
    world.advance()
    assert world.get(request_id).steps[0].attempts == 2
    world.clock.now += timedelta(seconds=59)  # the wait doubled
    world.advance()
    assert world.get(request_id).steps[0].attempts == 2
    world.suppression.down = False
    world.clock.now += timedelta(seconds=1)
    world.advance()
    done = world.get(request_id)
    assert done.status is Status.DONE and done.finished_at == world.clock.now
    assert world.suppression.calls[-1] == ("suppress", ([address], "erased"))


def test_a_deadline_is_one_month_after_opening(world: World) -> None:
    contact_id, _, _ = world.person()
    request = world.get(world.open(Kind.ACCESS, contact_id))
    assert (request.opened_at, request.deadline) == (START, datetime(2025, 2, 28, 9, tzinfo=UTC))
    assert request.status is Status.OPEN and request.opened_by == DPO.subject


def test_rectification_is_forwarded_to_contacts_at_once(world: World) -> None:
    contact_id, _, _ = world.person()
    request_id = world.open(
        Kind.RECTIFICATION, contact_id, owner_component=OWNER, values={"last_name": "Fixed"}
    )
    request = world.get(request_id)
    assert request.status is Status.DONE, request
    values = {v["field"]: v["value"] for v in world.parts.contacts.export(contact_id)["values"]}
    assert values["last_name"] == "Fixed"
    with world.db.engine.connect() as connection:
        kept = connection.execute(
            text("SELECT rectification FROM consent_privacy_requests WHERE id = :id"),
            {"id": request_id},
        ).scalar_one()
    assert kept is None  # forwarded: the values are not kept


@pytest.mark.parametrize(
    ("who", "raw", "error"),
    [
        (COMPONENT_DPO, "access", PermissionDenied),
        (MANAGER, "access", PermissionDenied),
        (SERVICE, "access", PermissionDenied),
        (DPO, None, InvalidArgument),
        (DPO, "unknown-contact", NotFound),
        (DPO, "bad-rectification", InvalidArgument),
        (DPO, "rectification-contacts-refuses", InvalidArgument),
    ],
)
def test_a_refused_request_writes_nothing(
    world: World, who: Principal, raw: str | None, error: type[Exception]
) -> None:
    contact_id, _, _ = world.person()
    before = world.rows()
    request = {
        "access": OpenRequest(Kind.ACCESS, contact_id),
        None: OpenRequest(None, contact_id),
        "unknown-contact": OpenRequest(Kind.ERASURE, str(uuid.uuid4())),
        "bad-rectification": OpenRequest(Kind.RECTIFICATION, contact_id),
        "rectification-contacts-refuses": OpenRequest(
            Kind.RECTIFICATION, contact_id, owner_component=OWNER, values={"no_such_field": "x"}
        ),
    }[raw]
    with pytest.raises(error):
        privacy_requests.open_request(world.db, world.parts, who, request)
    assert world.rows() == before


def test_consent_events_stay_append_only_outside_an_erasure(world: World) -> None:
    contact_id, _, _ = world.person()
    assert privacy_requests.erase_contact(world.db, SERVICE, contact_id) == 1
    assert privacy_requests.erase_contact(world.db, SERVICE, contact_id) == 0  # idempotent
    world.person()
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
        with world.db.engine.begin() as connection:
            connection.execute(text("DELETE FROM consent_events"))
    for refused in (COMPONENT_DPO, MANAGER):
        with pytest.raises(PermissionDenied):
            privacy_requests.erase_contact(world.db, refused, contact_id)


def test_two_replicas_advancing_at_once_attempt_each_step_once(world: World) -> None:
    if not world.db.is_postgres:
        pytest.skip("SQLite runs one process (crm up): no replicas")
    ids = [world.open(Kind.ERASURE, world.person()[0]) for _ in range(3)]
    before = len(world.suppression.calls)
    barrier = threading.Barrier(2)

    def replica() -> None:
        barrier.wait()
        world.advance()

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world.advance()
    assert all(world.get(i).status is Status.DONE for i in ids)
    assert len(world.suppression.calls) - before == 3
    for request_id in ids:
        attempts = [s.attempts for s in world.get(request_id).steps]
        assert attempts == [1, 1, 1, 1]
