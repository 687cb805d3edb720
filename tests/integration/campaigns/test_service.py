"""Use cases on PostgreSQL: bad input changes nothing, other components see nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from meshkit.db import Database
from meshkit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from meshkit.identity import Principal
from services.campaigns.clients import GrpcDirectory, GrpcPurposeCatalogue
from services.campaigns.ledger import Ledger
from services.campaigns.models import Campaign, Delivery
from services.campaigns.service import CampaignsService
from services.campaigns.validation import Audience, AudienceKind, Draft
from tests.integration.campaigns.peers import CallLog, Peers

SCIENCES = Principal("ana@sciences", component="sciences", roles=frozenset({"campaign_manager"}))
LETTRES = Principal("leo@lettres", component="lettres", roles=frozenset({"campaign_manager"}))
ADMIN = Principal("admin@grouping", roles=frozenset({"admin"}))
NOBODY = Principal("someone", roles=frozenset({"campaign_manager"}))
SCIENCES_VIEWER = Principal("viewer@sciences", component="sciences")  # not a manager


@pytest.fixture
def service(
    db: Database,
    directory: tuple[GrpcDirectory, CallLog],
    purposes: tuple[GrpcPurposeCatalogue, CallLog],
) -> Iterator[CampaignsService]:
    contacts, calls = directory
    yield CampaignsService(db, contacts, purposes[0])
    # Creating and starting campaigns never resolves recipients: only dispatch does.
    assert calls.named("ResolveRecipients") == []


def draft(ids: Sequence[str] = ("c1", "c2", "c3", "c4", "c5"), **changes: object) -> Draft:
    values: dict[str, object] = {
        "name": "News",
        "purpose": "newsletter",
        "subject_template": "Hi {{ first_name }}",
        "body_template": "Body",
        "audience": Audience(AudienceKind.CONTACT_IDS, tuple(ids)),
        **changes,
    }
    return Draft(**values)  # type: ignore[arg-type]


def counts(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        campaigns = session.scalar(select(func.count()).select_from(Campaign))
        deliveries = session.scalar(select(func.count()).select_from(Delivery))
    return int(campaigns or 0), int(deliveries or 0)


def fields(error: pytest.ExceptionInfo[InvalidArgument]) -> set[str]:
    return {v.field for v in error.value.violations}


def test_create_owns_the_campaign_by_the_callers_component(service: CampaignsService) -> None:
    view = service.create(SCIENCES, draft(("a", "b", "a")))
    assert (view.owner_component, view.created_by, view.status) == (
        "sciences",
        "ana@sciences",
        "draft",
    )
    assert view.audience.contact_ids == ("a", "b")
    assert view.outcome_counts == {}


def test_bad_input_to_create_is_named_and_writes_nothing(
    service: CampaignsService, db: Database
) -> None:
    before = counts(db)
    with pytest.raises(InvalidArgument) as error:
        service.create(SCIENCES, draft(name="", subject_template="{{ salary }}", audience=None))
    assert fields(error) == {"name", "subject_template", "audience"}
    assert "salary" in error.value.detail  # the template's own word, not contact data
    with pytest.raises(PermissionDenied):
        service.create(NOBODY, draft())
    assert counts(db) == before


def test_another_components_campaign_does_not_exist_for_them(service: CampaignsService) -> None:
    mine = service.create(SCIENCES, draft())
    for call in (
        lambda: service.get(LETTRES, mine.id),
        lambda: service.send_now(LETTRES, mine.id),
        lambda: service.schedule(LETTRES, mine.id, datetime.now(UTC) + timedelta(hours=1)),
        lambda: service.list_deliveries(LETTRES, mine.id, 0, ""),
        lambda: service.get(SCIENCES, "no-such-campaign"),
    ):
        with pytest.raises(NotFound) as error:
            call()
        assert error.value.detail == "campaign not found"
    assert mine.id not in {c.id for c in service.list_campaigns(LETTRES).campaigns}
    assert mine.id in {c.id for c in service.list_campaigns(SCIENCES).campaigns}
    assert mine.id in {c.id for c in service.list_campaigns(ADMIN).campaigns}
    assert service.get(ADMIN, mine.id).id == mine.id
    with pytest.raises(PermissionDenied):
        service.list_campaigns(NOBODY)


def test_send_now_starts_once(service: CampaignsService, db: Database) -> None:
    campaign = service.create(SCIENCES, draft())
    started = service.send_now(SCIENCES, campaign.id)
    assert started.status == "running"
    assert started.outcome_counts == {"pending": 5}
    before = counts(db)
    with pytest.raises(FailedPrecondition):
        service.send_now(SCIENCES, campaign.id)
    with pytest.raises(FailedPrecondition):
        service.schedule(SCIENCES, campaign.id, datetime.now(UTC) + timedelta(hours=1))
    assert counts(db) == before


def test_a_whole_component_audience_is_materialised_from_contacts(
    service: CampaignsService, peers: Peers
) -> None:
    component = f"team-{uuid.uuid4().hex[:8]}"
    peers.add_component(component)
    tag = uuid.uuid4().hex[:8]
    members = peers.new_contacts(component, [f"m{i}.{tag}@example.org" for i in range(2)])
    peers.new_contact("lettres", email=f"other.{tag}@example.org")  # not in the audience
    manager = Principal(f"ana@{component}", component=component, roles=SCIENCES.roles)
    campaign = service.create(manager, draft(audience=Audience(AudienceKind.ALL_OF_COMPONENT)))
    started = service.send_now(manager, campaign.id)
    assert started.outcome_counts == {"pending": 2}
    deliveries = service.list_deliveries(manager, campaign.id, 0, "").deliveries
    assert sorted(d.contact_id for d in deliveries) == sorted(members)


def test_schedule_needs_a_future_time(service: CampaignsService, db: Database) -> None:
    campaign = service.create(SCIENCES, draft())
    before = counts(db)
    for send_at, reason in (
        (None, "is required"),
        (datetime.now(UTC) - timedelta(seconds=1), "must be in the future"),
    ):
        with pytest.raises(InvalidArgument) as error:
            service.schedule(SCIENCES, campaign.id, send_at)
        assert [(v.field, v.description) for v in error.value.violations] == [("send_at", reason)]
    with pytest.raises(InvalidArgument) as error:
        service.send_now(SCIENCES, "")
    assert fields(error) == {"id"}
    assert counts(db) == before
    assert service.get(SCIENCES, campaign.id).status == "draft"

    when = datetime.now(UTC) + timedelta(days=1)
    scheduled = service.schedule(SCIENCES, campaign.id, when)
    assert (scheduled.status, scheduled.send_at) == ("scheduled", when)
    later = when + timedelta(hours=1)
    assert service.schedule(SCIENCES, campaign.id, later).send_at == later


def test_deliveries_come_page_by_page(service: CampaignsService) -> None:
    campaign = service.create(SCIENCES, draft())
    other = service.create(SCIENCES, draft())
    service.send_now(SCIENCES, campaign.id)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = service.list_deliveries(SCIENCES, campaign.id, 2, token)
        seen += [d.contact_id for d in page.deliveries]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert (seen, pages) == (["c1", "c2", "c3", "c4", "c5"], 3)
    assert all(d.outcome == "pending" for d in page.deliveries)

    first = service.list_deliveries(SCIENCES, campaign.id, 2, "")
    for size, token, field in (
        (-1, "", "page_size"),
        (2, "garbage", "page_token"),
        (2, first.next_page_token + "x", "page_token"),
    ):
        with pytest.raises(InvalidArgument) as error:
            service.list_deliveries(SCIENCES, campaign.id, size, token)
        assert fields(error) == {field}
    with pytest.raises(InvalidArgument):  # a token of one campaign is no good for another
        service.list_deliveries(SCIENCES, other.id, 2, first.next_page_token)
    assert len(service.list_deliveries(SCIENCES, campaign.id, 5000, "").deliveries) == 5


def test_campaigns_come_page_by_page_newest_first_ties_by_id(
    db: Database,
    directory: tuple[GrpcDirectory, CallLog],
    purposes: tuple[GrpcPurposeCatalogue, CallLog],
) -> None:
    """Keyset pages on (created_at, id): with two instants shared by several campaigns
    (ties broken by id), every page size gives every campaign once, newest first; a
    campaign created between two pages sorts before the position and is not repeated."""
    now = [datetime(2031, 1, 1, tzinfo=UTC)]
    timed = CampaignsService(db, directory[0], purposes[0], clock=lambda: now[0])
    component = f"lettres{uuid.uuid4().hex[:6]}"
    owner = Principal(f"m@{component}", component=component, roles=frozenset({"campaign_manager"}))
    made = []
    for year in (2031, 2031, 2031, 2032, 2032):
        now[0] = datetime(year, 1, 1, tzinfo=UTC)
        made.append(timed.create(owner, draft()).id)
    every = timed.list_campaigns(owner, 1000).campaigns
    assert [(c.created_at, c.id) for c in every] == sorted(
        ((c.created_at, c.id) for c in every), reverse=True
    )
    assert sorted(c.id for c in every) == sorted(made)
    for size in range(1, 6):
        seen, token = [], ""
        while True:
            page = timed.list_campaigns(owner, size, token)
            seen += [c.id for c in page.campaigns]
            if not (token := page.next_page_token):
                break
            assert len(page.campaigns) == size
        assert seen == [c.id for c in every]
    first = timed.list_campaigns(owner, 2)
    now[0] = datetime(2033, 1, 1, tzinfo=UTC)
    timed.create(owner, draft())  # newer than every listed campaign
    rest = timed.list_campaigns(owner, 1000, first.next_page_token).campaigns
    assert [c.id for c in first.campaigns + rest] == [c.id for c in every]
    for size, token, field in ((-1, "", "page_size"), (2, "garbage", "page_token")):
        with pytest.raises(InvalidArgument) as error:
            timed.list_campaigns(owner, size, token)
        assert fields(error) == {field}
    with pytest.raises(InvalidArgument):  # bound to the component listed
        timed.list_campaigns(SCIENCES, 2, first.next_page_token)


# --- Lifecycle (issue 8): the ledger side of pause, cancel and finish -----------------------


def rows_of(db: Database, campaign_id: str) -> dict[str, Delivery]:
    with db.transaction() as session:
        found = session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id))
        return {row.contact_id: row for row in found}


def hold(db: Database, campaign_id: str, contact_id: str, *, started: bool, lease: float) -> int:
    """A worker `w1` holds this row, its send started or not, its lease ending in `lease` s."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        row = session.scalars(
            select(Delivery).where(
                Delivery.campaign_id == campaign_id, Delivery.contact_id == contact_id
            )
        ).one()
        row.claimed_by = "w1"
        row.claimed_until = now + timedelta(seconds=lease)
        row.send_started_at = now if started else None
        return row.id


def test_cancel_closes_every_row_not_in_flight_and_leaves_the_one_in_flight_to_its_worker(
    service: CampaignsService, db: Database
) -> None:
    campaign = service.create(SCIENCES, draft(("a", "b", "c", "d")))
    service.send_now(SCIENCES, campaign.id)
    in_flight = hold(db, campaign.id, "a", started=True, lease=60)
    held = hold(db, campaign.id, "b", started=False, lease=60)
    with db.transaction() as session:  # an earlier worker's row deferred to a later slot
        session.get_one(Delivery, rows_of(db, campaign.id)["c"].id).outcome = "deferred"

    with pytest.raises(NotFound):
        service.cancel(LETTRES, campaign.id)
    cancelled = service.cancel(SCIENCES, campaign.id)
    assert cancelled.status == "cancelled"
    assert cancelled.outcome_counts == {"pending": 1, "cancelled": 3}
    ledger = Ledger(db)
    # The holder of a closed row lost it; the mail in flight is closed as usual.
    assert not ledger.mark_sending("w1", held, "<m@x>", 60)
    assert ledger.close_sent("w1", in_flight, "consent:consent_given")
    assert campaign.id not in ledger.finish_campaigns()  # cancelled never turns done
    outcomes = {c: (r.outcome, r.rule) for c, r in rows_of(db, campaign.id).items()}
    assert outcomes == {
        "a": ("sent", "consent:consent_given"),
        "b": ("cancelled", "lifecycle:cancelled"),
        "c": ("cancelled", "lifecycle:cancelled"),
        "d": ("cancelled", "lifecycle:cancelled"),
    }
    assert service.get(SCIENCES, campaign.id).status == "cancelled"
    with pytest.raises(FailedPrecondition) as refused:
        service.cancel(SCIENCES, campaign.id)
    assert refused.value.detail.startswith("the campaign is cancelled;")


def test_a_send_in_flight_abandoned_by_a_dead_worker_after_a_cancel_ends_unconfirmed(
    service: CampaignsService, db: Database
) -> None:
    campaign = service.create(SCIENCES, draft(("a", "b")))
    service.send_now(SCIENCES, campaign.id)
    hold(db, campaign.id, "a", started=True, lease=-1)  # its worker died mid-send
    service.cancel(SCIENCES, campaign.id)
    Ledger(db).finish_campaigns()
    outcomes = {c: (r.outcome, r.rule) for c, r in rows_of(db, campaign.id).items()}
    assert outcomes == {
        "a": ("unconfirmed", "smtp:worker_lost"),
        "b": ("cancelled", "lifecycle:cancelled"),
    }


def test_a_running_campaign_is_done_only_when_no_row_is_pending_or_deferred(
    service: CampaignsService, db: Database
) -> None:
    campaign = service.create(SCIENCES, draft(("a",)))
    service.send_now(SCIENCES, campaign.id)
    row_id = rows_of(db, campaign.id)["a"].id
    ledger = Ledger(db)
    for outcome, done in (("deferred", False), ("pending", False), ("sent", True)):
        with db.transaction() as session:
            session.get_one(Delivery, row_id).outcome = outcome
        assert (campaign.id in ledger.finish_campaigns()) is done
    assert service.get(SCIENCES, campaign.id).status == "done"


def test_pause_and_resume_follow_the_table_and_claims_skip_a_paused_campaign(
    service: CampaignsService, db: Database
) -> None:
    campaign = service.create(SCIENCES, draft(("a", "b")))
    with pytest.raises(FailedPrecondition):
        service.pause(SCIENCES, campaign.id)
    service.send_now(SCIENCES, campaign.id)
    ledger = Ledger(db)
    assert ledger.still_running(campaign.id)
    assert service.pause(SCIENCES, campaign.id).status == "paused"
    assert not ledger.still_running(campaign.id)
    with db.transaction() as session:
        assert session.get_one(Campaign, campaign.id).paused_at is not None
    for _ in range(20):  # whatever else runs in this database, not our rows
        batch = ledger.claim("w9", 1000, 60)
        if batch is None:
            break
        assert batch.campaign.id != campaign.id
    with pytest.raises(PermissionDenied):
        service.resume(SCIENCES_VIEWER, campaign.id)
    with pytest.raises(NotFound):
        service.resume(LETTRES, campaign.id)
    assert service.resume(SCIENCES, campaign.id).status == "running"
    assert ledger.still_running(campaign.id)


def test_unschedule_and_cancel_of_a_scheduled_campaign_forget_its_start(
    db: Database, directory: tuple[GrpcDirectory, CallLog], purposes: tuple[Any, CallLog]
) -> None:
    forgotten: list[str] = []
    service = CampaignsService(db, directory[0], purposes[0], on_unscheduled=forgotten.append)
    send_at = datetime.now(UTC) + timedelta(hours=1)
    first, second = (service.create(SCIENCES, draft(("a",))) for _ in range(2))
    for campaign in (first, second):
        service.schedule(SCIENCES, campaign.id, send_at)
    assert service.unschedule(SCIENCES, first.id).status == "draft"
    assert service.cancel(SCIENCES, second.id).status == "cancelled"
    assert forgotten == [first.id, second.id]
    # A start that fires anyway does nothing.
    assert not service.start_scheduled(first.id, send_at, "test")
    assert not service.start_scheduled(second.id, send_at, "test")
    assert rows_of(db, first.id) == {} and rows_of(db, second.id) == {}
    assert service.get(SCIENCES, first.id).send_at is None
