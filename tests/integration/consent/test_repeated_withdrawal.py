"""Withdrawing what is already withdrawn appends nothing, even for concurrent repeats.

Against the real process (gRPC), and in this process on SQLite and PostgreSQL
with threads, since embedded defaults keep consent in a SQLite file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from meshkit.db import Database, make_engine
from meshkit.identity import ROLE_SERVICE, Principal
from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent import service
from services.consent.bootstrap import migrate_schema
from services.consent.clients import GrpcContacts
from services.consent.domain import Action, Channel, Scope
from services.consent.validation import ChangeRequest
from tests.integration.campaigns.peers import CallLog
from tests.integration.consent.harness import (
    GROUPING,
    RunningConsent,
    RunningContacts,
    change,
    check,
    component,
    grant,
    history,
    withdraw,
)
from tests.support.stores import fresh_postgres

T = TypeVar("T")
REPLAYS = 8


def one_click(contact_id: str, campaign: str = "campaign-42") -> pb.ConsentChange:
    """The withdrawal the gateway sends for an unsubscribe link."""
    return change(
        contact_id,
        GROUPING,
        source="one-click-unsubscribe",
        text_shown=f"Unsubscribe link in a message of campaign {campaign}",
    )


def at_once(count: int, action: Callable[[], T]) -> list[T]:
    """Runs `action` in `count` threads released together."""
    barrier = threading.Barrier(count)

    def run() -> T:
        barrier.wait(timeout=30)
        return action()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [f.result(timeout=60) for f in futures]


def test_a_replayed_one_click_withdrawal_is_recorded_once(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    gateway = consent.keys.service("gateway")
    grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    first, second, third = (withdraw(consent, gateway, one_click(contact)) for _ in range(3))
    assert first.id == second.id == third.id
    events = history(consent, consent.keys.admin(), contact)
    assert [e.action for e in events] == [pb.ACTION_GRANT, pb.ACTION_WITHDRAW]
    [result] = check(consent, "law", contact)
    assert result.decision == pb.DECISION_WITHDRAWN and result.deciding_event_id == first.id


def test_concurrent_replays_append_one_event(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    gateway = consent.keys.service("gateway")
    grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    replies = at_once(REPLAYS, lambda: withdraw(consent, gateway, one_click(contact)))
    events = history(consent, consent.keys.admin(), contact)
    assert [e.action for e in events] == [pb.ACTION_GRANT, pb.ACTION_WITHDRAW]
    assert {r.id for r in replies} == {events[-1].id}


def test_grant_withdraw_grant_withdraw_is_four_events(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    manager, gateway = consent.keys.manager("law"), consent.keys.service("gateway")
    for _ in range(2):
        grant(consent, manager, change(contact, component("law")))
        withdraw(consent, gateway, one_click(contact))
        withdraw(consent, gateway, one_click(contact))  # the replay adds nothing
    actions = [e.action for e in history(consent, consent.keys.admin(), contact)]
    assert actions == [pb.ACTION_GRANT, pb.ACTION_WITHDRAW] * 2


def test_a_withdrawal_that_changes_a_verdict_is_recorded(consent: RunningConsent) -> None:
    """A component withdrawal, then a grouping one: the second still binds other components."""
    contact = consent.new_contact()
    manager = consent.keys.manager("law")
    grant(consent, consent.keys.admin(), change(contact, GROUPING))
    withdraw(consent, manager, change(contact, component("law")))
    withdraw(consent, manager, change(contact, component("law")))  # law is already withdrawn
    [still] = check(consent, "sciences", contact)
    assert still.allowed
    grouping = withdraw(consent, consent.keys.service("gateway"), one_click(contact))
    [now] = check(consent, "sciences", contact)
    assert not now.allowed and now.deciding_event_id == grouping.id
    actions = [e.action for e in history(consent, consent.keys.admin(), contact)]
    assert actions == [pb.ACTION_GRANT, pb.ACTION_WITHDRAW, pb.ACTION_WITHDRAW]


def test_a_re_grant_makes_the_same_link_count_again(consent: RunningConsent) -> None:
    """The person unsubscribes, subscribes again, then follows the old link: recorded."""
    contact = consent.new_contact()
    gateway = consent.keys.service("gateway")
    first = withdraw(consent, gateway, one_click(contact))
    grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    again = withdraw(consent, gateway, one_click(contact))
    assert again.id != first.id
    [result] = check(consent, "law", contact)
    assert result.deciding_event_id == again.id


# In this process, on both backends: the race is decided by the database.

GATEWAY = Principal("service:gateway", roles=frozenset({ROLE_SERVICE}))
MANAGER = Principal("alice@law", component="law", roles=frozenset({"campaign_manager"}))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('consent-replay') / 'consent.db'}"
        yield from _migrated(url)
    else:
        with fresh_postgres("consent_replay") as url:
            yield from _migrated(url)


def _migrated(url: str) -> Iterator[Database]:
    engine = make_engine(url)
    migrate_schema(engine)
    try:
        yield Database(engine)
    finally:
        engine.dispose()


def request(contact_id: str, scope: Scope, text: str = "I agree") -> ChangeRequest:
    return ChangeRequest(
        contact_id, Channel.EMAIL, "newsletter", scope, None, "one-click-unsubscribe", text
    )


def test_concurrent_withdrawals_in_process_append_one_event(
    db: Database, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    asks = directory[0]
    contact = contacts.new_contact()
    service.grant(db, asks, MANAGER, request(contact, Scope.of("law")))
    for _ in range(2):  # from a granted state, then from the withdrawn one
        events = at_once(
            REPLAYS,
            lambda: service.withdraw(db, asks, GATEWAY, request(contact, Scope.grouping())),
        )
        recorded = service.history(db, asks, GATEWAY, contact).events
        assert [e.action for e in recorded] == [Action.GRANT, Action.WITHDRAW]
        assert {e.id for e in events} == {recorded[-1].id}


def test_concurrent_grant_withdraw_cycles_in_process(
    db: Database, contacts: RunningContacts, directory: tuple[GrpcContacts, CallLog]
) -> None:
    asks = directory[0]
    contact = contacts.new_contact()
    for _ in range(2):
        service.grant(db, asks, MANAGER, request(contact, Scope.of("law")))
        at_once(4, lambda: service.withdraw(db, asks, MANAGER, request(contact, Scope.of("law"))))
    actions = [e.action for e in service.history(db, asks, GATEWAY, contact).events]
    assert actions == [Action.GRANT, Action.WITHDRAW] * 2
