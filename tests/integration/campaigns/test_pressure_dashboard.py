"""GetPressureDashboard through a real `crm serve campaigns`, on a seeded ledger in PostgreSQL.

The rollup runs here, on the module's database (as the leader's job would); the figures
are read over gRPC from the running process. The expected figures are recomputed in this
file from the raw ledger rows, read back with a plain query: every published figure
agrees with them, a group below k shows nothing, and the answer names no contact.
Withdrawals come from the real consent process (ListConsentEvents) and are attributed
to the last marketing mail within the window.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToJson
from sqlalchemy import insert, select, update

from meshkit.db import Database
from meshkit.grpc_client import open_channel
from protos.crm.campaigns.v1 import campaigns_pb2, campaigns_pb2_grpc, pressure_pb2_grpc
from protos.crm.campaigns.v1 import pressure_pb2 as pb
from services.campaigns.models import Campaign, Delivery, PressureMonth, PressureResponse
from services.campaigns.pressure_feed import GrpcEventFeed
from services.campaigns.pressure_rollup import (
    PressureRollups,
    compute_month,
    final_at,
    month_of,
    previous_month,
    week_month,
)
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import Peers, campaigns_process
from tests.support.ledger import done_campaign, sent_row
from tests.support.stores import redis_prefix
from tests.support.tokens import TestKeys

MONTH = "2025-03"
START = datetime(2025, 3, 1, tzinfo=UTC)
COMPONENTS = ("sciences", "lettres", "medecine", "droit")
SMALL = "tiny"  # three people only: below k everywhere
PURPOSES = ("newsletter", "events")
TIMEOUT = 20


@pytest.fixture(scope="module")
def channel(
    pg_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    redis_client: Any,
    keys: TestKeys,
    peers: Peers,
) -> Iterator[grpc.Channel]:
    for component in (*COMPONENTS, SMALL):
        if component not in ("sciences", "lettres"):
            peers.add_component(component)
    workdir: Path = tmp_path_factory.mktemp("campaigns-pressure-dashboard")
    prefix = redis_prefix()
    # the process's own rollup job stays out of the way: this module runs it itself
    with campaigns_process(
        workdir, keys, pg_url, peers, prefix, PRESSURE_ROLLUP_SECONDS="86400"
    ) as (running, _sink, _log):
        yield running
    delete_keys(redis_client, prefix)


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pressure_pb2_grpc.PressurePolicyServiceStub:
    return pressure_pb2_grpc.PressurePolicyServiceStub(channel)


def _campaign(db: Database, component: str, purpose: str) -> str:
    with db.transaction() as session:
        return done_campaign(session, component, purpose, START - timedelta(days=40))


@pytest.fixture(scope="module")
def seeded(db: Database) -> list[str]:
    """A month of marketing mail: 200 people of four components, and 3 of a small one."""
    rng = random.Random(11)
    campaigns = {(c, p): _campaign(db, c, p) for c in (*COMPONENTS, SMALL) for p in PURPOSES}
    rows: list[dict[str, Any]] = []
    used: set[tuple[str, str]] = set()
    people = [f"seed-{i:03d}" for i in range(200)]
    small = [f"seed-small-{i}" for i in range(3)]

    def mail(person: str, component: str, purpose: str, **values: Any) -> None:
        # one row per campaign and contact: a new campaign when the pair is taken
        campaign = campaigns[(component, purpose)]
        if (campaign, person) in used:
            campaign = _campaign(db, component, purpose)
        used.add((campaign, person))
        rows.append(
            {
                "campaign_id": campaign,
                "contact_id": person,
                "message_class": "marketing",
                **values,
            }
        )

    for person in people:
        for _ in range(rng.randint(1, 12)):
            component, purpose = rng.choice(COMPONENTS), rng.choice(PURPOSES)
            # a few days either side of the month: the weeks overlapping it
            at = START + timedelta(hours=rng.randint(-3 * 24, 34 * 24))
            outcome = rng.choice(["sent", "sent", "sent", "unconfirmed"])
            deferred_once = {"deferred_until": at} if rng.random() < 0.15 else {}
            mail(
                person,
                component,
                purpose,
                outcome=outcome,
                sent_at=at if outcome == "sent" else None,
                send_started_at=at,
                rule="sent",
                decided_at=at,
                **deferred_once,
            )
        if rng.random() < 0.2:  # still waiting for a slot, or dropped at the cap
            at = START + timedelta(days=rng.randint(0, 27))
            if rng.random() < 0.5:
                mail(
                    person,
                    rng.choice(COMPONENTS),
                    rng.choice(PURPOSES),
                    outcome="deferred",
                    deferred_until=at,
                    rule=rng.choice(["pressure:weekly:3/604800s", "quiet:hours"]),
                    decided_at=at,
                )
            else:
                mail(
                    person,
                    rng.choice(COMPONENTS),
                    rng.choice(PURPOSES),
                    outcome="capped",
                    rule="pressure:weekly:3/604800s",
                    decided_at=at,
                )
        if rng.random() < 0.1:  # not reached: never counted
            mail(
                person, rng.choice(COMPONENTS), "newsletter", outcome="no_consent", decided_at=START
            )
    for person in small:
        at = START + timedelta(days=10)
        mail(person, SMALL, "newsletter", outcome="sent", sent_at=at, send_started_at=at)
    with db.transaction() as session:
        session.execute(insert(Delivery), rows)
    return people + small


def expected(db: Database, month: str) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """Each figure (units, contacts) recomputed from the raw ledger rows, plainly."""
    moment_rows = []
    with db.transaction() as session:
        for row in session.execute(
            select(
                Delivery.contact_id,
                Campaign.owner_component,
                Campaign.purpose,
                Delivery.outcome,
                Delivery.sent_at,
                Delivery.send_started_at,
                Delivery.deferred_until,
                Delivery.decided_at,
                Delivery.rule,
            ).join(Campaign, Campaign.id == Delivery.campaign_id)
        ):
            moment_rows.append(row)
    units: Counter[tuple[str, str, str, str]] = Counter()
    people: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)

    def add(key: tuple[str, str, str, str], person: str, n: int = 1) -> None:
        units[key] += n
        people[key].add(person)

    def views(component: str, purpose: str) -> list[tuple[str, str]]:
        return [(component, purpose), (component, ""), ("", purpose), ("", "")]

    month_counts: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    week_counts: dict[tuple[str, str], Counter[tuple[str, str]]] = defaultdict(Counter)
    capped: set[tuple[str, str, str]] = set()
    for person, component, purpose, outcome, sent, started, deferred, decided, rule in moment_rows:
        if outcome in ("sent", "unconfirmed"):
            at = sent or started
            for view in views(component, purpose):
                if at.strftime("%Y-%m") == month:
                    month_counts[person][view] += 1
                week, owner = week_month(at)
                if owner == month:
                    week_counts[(person, week)][view] += 1
        held_at = deferred or (decided if outcome == "capped" else None)
        if held_at is not None and held_at.strftime("%Y-%m") == month:
            for view in views(component, purpose):
                if deferred is not None:
                    add(("deferrals", *view, ""), person)
                if not (rule or "").startswith("quiet:"):
                    capped.add((person, *view))
    for person, component, purpose in capped:
        add(("at_cap", component, purpose, ""), person)
    for person, counts in month_counts.items():
        for (component, purpose), n in counts.items():
            add(("contacts_reached", component, purpose, ""), person)
            add(("messages_per_month", component, purpose, ""), person)
            add(("messages_per_month", component, purpose, str(n) if n < 10 else "10+"), person)
    for (person, _week), counts in week_counts.items():
        for (component, purpose), n in counts.items():
            add(("messages_per_week", component, purpose, ""), person)
            add(("messages_per_week", component, purpose, str(n) if n < 10 else "10+"), person)
    return {key: (units[key], len(people[key])) for key in units}


def communication(keys: TestKeys) -> list[tuple[str, str]]:
    return [
        ("authorization", f"Bearer {keys.issuer.mint('com@grouping', roles=['communication'])}")
    ]


def ask(
    stub: pressure_pb2_grpc.PressurePolicyServiceStub,
    auth: list[tuple[str, str]],
    month: str = MONTH,
    component: str = "",
) -> pb.PressureDashboard:
    request = pb.GetPressureDashboardRequest(month=month, component=component)
    return stub.GetPressureDashboard(request, metadata=auth, timeout=TIMEOUT)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def rolled(db: Database, seeded: list[str]) -> PressureRollups:
    rollups = PressureRollups(db, None, timedelta(days=7))
    assert MONTH in rollups.refresh()
    return rollups


def test_a_closed_month_is_recomputed_until_computed_once_after_it_became_final(
    db: Database, rolled: PressureRollups
) -> None:
    now = datetime.now(UTC)
    current = month_of(now)
    previous = previous_month(current)
    rolled.refresh()  # every month computed now
    still_open = [previous] if now < final_at(previous) else []
    assert rolled.months_to_compute() == [*still_open, current]
    # MONTH computed while its last week was still running: once more, then no more.
    early = final_at(MONTH) - timedelta(days=2)
    with db.transaction() as session:
        session.execute(
            update(PressureMonth).where(PressureMonth.month == MONTH).values(computed_at=early)
        )
    assert MONTH in rolled.months_to_compute()
    assert MONTH in rolled.refresh()
    assert MONTH not in rolled.months_to_compute()
    # A merge or an erasure (a dirty mark) brings it back.
    with db.transaction() as session:
        session.execute(
            update(PressureMonth).where(PressureMonth.month == MONTH).values(dirty=True)
        )
    assert MONTH in rolled.months_to_compute()
    rolled.refresh()


def test_the_dashboard_agrees_with_the_ledger(
    stub: pressure_pb2_grpc.PressurePolicyServiceStub,
    keys: TestKeys,
    db: Database,
    rolled: PressureRollups,
) -> None:
    answer = ask(stub, communication(keys))
    truth = expected(db, MONTH)
    assert (answer.month, answer.component, answer.k, answer.p) == (MONTH, "", 5, 80)
    assert answer.computed_at.endswith("Z")
    shown = {(f.series, f.component, f.purpose, f.bucket): f for f in answer.figures}
    # every figure with a contact behind it is there, published or not, and no other
    assert set(shown) == set(truth)
    published = [f for f in answer.figures if f.published]
    assert len(published) > 100  # the seeded month is mostly publishable
    for key, figure in shown.items():
        units, contacts = truth[key]
        if figure.published:
            assert figure.value == units, key
            assert contacts >= answer.k, key
            assert figure.reason == ""
        else:
            assert figure.value == 0 and figure.reason, key
    # the grouping's total is published (its value was checked above)
    assert shown[("contacts_reached", "", "", "")].published
    # the same figures when the rollup runs again (idempotent)
    rolled.recompute(MONTH)
    again = ask(stub, communication(keys))
    assert [(f.series, f.value, f.reason) for f in again.figures] == [
        (f.series, f.value, f.reason) for f in answer.figures
    ]


def test_a_group_below_k_shows_nothing(
    stub: pressure_pb2_grpc.PressurePolicyServiceStub, keys: TestKeys, rolled: PressureRollups
) -> None:
    grouping = ask(stub, communication(keys))
    small = [f for f in grouping.figures if f.component == SMALL]
    assert small and not any(f.published for f in small)
    assert {f.reason for f in small} <= {"too_few_contacts", "complementary"}
    staff = [("authorization", f"Bearer {keys.manager(SMALL)}")]
    own = ask(stub, staff, component=SMALL)
    assert own.figures and not any(f.published for f in own.figures)
    assert all(f.value == 0 for f in own.figures)


def test_a_component_sees_its_own_view_only(
    stub: pressure_pb2_grpc.PressurePolicyServiceStub, keys: TestKeys, rolled: PressureRollups
) -> None:
    staff = [("authorization", f"Bearer {keys.manager('sciences')}")]
    own = ask(stub, staff, component="sciences")
    assert own.figures and {f.component for f in own.figures} == {"sciences"}
    assert any(f.published for f in own.figures)
    for component in ("", "lettres"):
        with pytest.raises(grpc.RpcError) as refused:
            ask(stub, staff, component=component)
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    grouping_dpo = [("authorization", f"Bearer {keys.issuer.mint('dpo@g', roles=['dpo'])}")]
    assert ask(stub, grouping_dpo).figures
    with pytest.raises(grpc.RpcError) as refused:
        ask(stub, communication(keys), month="2025-13")
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_no_contact_id_or_address_in_the_answer(
    stub: pressure_pb2_grpc.PressurePolicyServiceStub,
    keys: TestKeys,
    seeded: list[str],
    rolled: PressureRollups,
) -> None:
    answers = [
        ask(stub, auth, component=component)
        for auth, component in (
            (communication(keys), ""),
            ([("authorization", f"Bearer {keys.manager('sciences')}")], "sciences"),
        )
    ]
    text = "".join(MessageToJson(a) for a in answers)  # every string field, readable
    raw = b"".join(a.SerializeToString() for a in answers)
    assert "seed-" not in text and "@" not in text and "example.org" not in text
    assert not any(person.encode() in raw for person in seeded)


def test_withdrawals_count_against_the_last_mail_in_the_window(
    channel: grpc.Channel,
    stub: pressure_pb2_grpc.PressurePolicyServiceStub,
    keys: TestKeys,
    db: Database,
    peers: Peers,
    rolled: PressureRollups,
) -> None:
    now = datetime.now(UTC)
    month = now.strftime("%Y-%m")
    recent = now - timedelta(hours=2)
    withdrawn: list[str] = []
    late = ""
    for component in ("sciences", "lettres"):
        campaign = _campaign(db, component, "newsletter")
        older = _campaign(db, "medecine", "events")
        for _ in range(6 if component == "sciences" else 7):
            contact = peers.new_contact(component, email=f"w.{uuid.uuid4().hex[:10]}@example.org")
            with db.transaction() as session:
                # an older mail of another component, then the component's: the last one counts
                session.execute(
                    insert(Delivery),
                    [
                        sent_row(older, contact, recent - timedelta(days=2)),
                        sent_row(campaign, contact, recent),
                    ],
                )
            peers.grant(contact, component)
            peers.withdraw(contact, component)
            withdrawn.append(contact)
        late = peers.new_contact(component, email=f"late.{uuid.uuid4().hex[:10]}@example.org")
        with db.transaction() as session:
            session.execute(insert(Delivery), [sent_row(campaign, late, now - timedelta(days=8))])
        peers.grant(late, component)
        peers.withdraw(late, component)
    to_consent = open_channel(peers.consent_target, keys.identity("campaigns").token, 10.0)
    try:
        rollups = PressureRollups(db, GrpcEventFeed(to_consent), timedelta(days=7))
        assert rollups.pull_events() >= 15
        assert rollups.pull_events() == 0  # read again: nothing new
        rollups.recompute(month)
    finally:
        to_consent.close()
    with db.transaction() as session:
        stored = dict(
            session.execute(
                select(PressureResponse.contact_id, PressureResponse.component).where(
                    PressureResponse.contact_id.in_([*withdrawn, late])
                )
            ).all()
        )
    assert stored[late] is None  # its last mail was 8 days before: outside the window
    assert {stored[c] for c in withdrawn} == {"sciences", "lettres"}
    shown = {
        (f.series, f.component, f.purpose): f
        for f in ask(stub, communication(keys), month=month).figures
        if f.series == "unsubscribes"
    }
    assert shown[("unsubscribes", "sciences", "newsletter")].value == 6
    assert shown[("unsubscribes", "lettres", "newsletter")].value == 7
    assert shown[("unsubscribes", "", "")].value == 13
    assert ("unsubscribes", "medecine", "events") not in shown

    # erasure (as consent drives it): the person's attributed withdrawal goes, their month
    # is marked for a recompute, and the next one counts the month without them
    erased = withdrawn[0]
    campaigns = campaigns_pb2_grpc.CampaignsServiceStub(channel)
    campaigns.EraseContact(
        campaigns_pb2.EraseContactRequest(contact_id=erased),
        metadata=[("authorization", f"Bearer {keys.service('consent')}")],
        timeout=TIMEOUT,
    )
    with db.transaction() as session:
        assert (
            session.scalar(
                select(PressureResponse.event_id).where(PressureResponse.contact_id == erased)
            )
            is None
        )
        assert session.scalar(select(PressureMonth.dirty).where(PressureMonth.month == month))
    PressureRollups(db, None, timedelta(days=7)).refresh()
    after = {
        (f.series, f.component, f.purpose): f
        for f in ask(stub, communication(keys), month=month).figures
        if f.series == "unsubscribes"
    }
    assert after[("unsubscribes", "sciences", "newsletter")].value == 5
    assert after[("unsubscribes", "", "")].value == 12


def test_the_database_and_the_python_paths_give_the_same_cells(
    db: Database, seeded: list[str]
) -> None:
    """PostgreSQL computes the sends' figures (GROUPING SETS); SQLite runs the Python loop."""
    with db.transaction() as session:
        in_database = compute_month(session, MONTH, in_database=True).cells
        in_python = compute_month(session, MONTH, in_database=False).cells
    assert in_database and set(in_database) == set(in_python)
    for key, cell in in_python.items():
        assert vars(in_database[key]) == vars(cell), key
