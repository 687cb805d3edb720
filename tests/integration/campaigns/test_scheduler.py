"""The scheduler: jobs rebuilt from the database, past-due starts, one leader, idempotent runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from meshkit.db import Database
from meshkit.identity import Principal
from meshkit.scheduling import SoleLeader
from services.campaigns.clients import GrpcDirectory, GrpcPurposeCatalogue
from services.campaigns.models import JOB_RUNS, Campaign, Delivery
from services.campaigns.scheduler import CampaignScheduler
from services.campaigns.service import START_JOB, CampaignsService, start_run_key
from services.campaigns.validation import Audience, AudienceKind, Draft
from tests.integration.campaigns.peers import CallLog

SCIENCES = Principal("ana@sciences", component="sciences", roles=frozenset({"campaign_manager"}))


class NeverLeader:
    def acquire(self) -> bool:
        return False

    def release(self) -> None:
        return None


@pytest.fixture
def service(
    db: Database,
    directory: tuple[GrpcDirectory, CallLog],
    purposes: tuple[GrpcPurposeCatalogue, CallLog],
) -> Iterator[CampaignsService]:
    contacts, calls = directory
    yield CampaignsService(db, contacts, purposes[0])
    # These campaigns name their contacts: starting them never asks contacts anything.
    assert calls.calls == []


def scheduled(service: CampaignsService, db: Database, send_at: datetime) -> str:
    """A scheduled campaign; written directly when `send_at` is already past."""
    draft = Draft(
        "News", "newsletter", "Hi", "Body", Audience(AudienceKind.CONTACT_IDS, ("a", "b"))
    )
    campaign = service.create(SCIENCES, draft)
    with db.transaction() as session:
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(status="scheduled", send_at=send_at)
        )
    return campaign.id


def wait_for(condition, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        time.sleep(0.05)


def test_jobs_are_rebuilt_from_the_database_and_past_due_ones_start_at_once(
    service: CampaignsService, db: Database
) -> None:
    past_due = scheduled(service, db, datetime.now(UTC) - timedelta(hours=3))
    future_at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    future = scheduled(service, db, future_at)
    scheduler = CampaignScheduler(service, SoleLeader(), "test", 0.2, 60)
    scheduler.start()
    try:
        wait_for(lambda: service.get(SCIENCES, past_due).status == "running")
        job = scheduler.runner.job(f"start:{future}")
        assert job is not None and job.next_run_time == future_at
        assert job.misfire_grace_time == 60
    finally:
        scheduler.stop()
    assert service.get(SCIENCES, past_due).outcome_counts == {"pending": 2}
    assert service.get(SCIENCES, future).status == "scheduled"


def test_a_scheduled_start_runs_once_however_often_it_fires(
    service: CampaignsService, db: Database
) -> None:
    send_at = datetime.now(UTC) - timedelta(seconds=1)
    campaign_id = scheduled(service, db, send_at)
    assert service.start_scheduled(campaign_id, send_at, "r1") is True
    assert service.start_scheduled(campaign_id, send_at, "r2") is False
    with db.transaction() as session:
        rows = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id)
        )
        runs = session.scalars(
            select(JOB_RUNS.c.ran_by).where(
                JOB_RUNS.c.job == START_JOB,
                JOB_RUNS.c.run_key == start_run_key(campaign_id, send_at),
            )
        ).all()
    assert (rows, runs) == (2, ["r1"])


def test_a_job_for_an_old_time_does_nothing_after_rescheduling(
    service: CampaignsService, db: Database
) -> None:
    old = datetime.now(UTC) - timedelta(seconds=1)
    campaign_id = scheduled(service, db, old)
    new = datetime.now(UTC) + timedelta(days=1)
    service.schedule(SCIENCES, campaign_id, new)
    assert service.start_scheduled(campaign_id, old, "r1") is False
    assert service.get(SCIENCES, campaign_id).status == "scheduled"


def test_a_replica_that_does_not_lead_keeps_no_job(service: CampaignsService, db: Database) -> None:
    campaign_id = scheduled(service, db, datetime.now(UTC) + timedelta(hours=1))
    scheduler = CampaignScheduler(service, NeverLeader(), "follower", 60, 60)
    scheduler.start()
    try:
        scheduler.sync()
        scheduler.notify(campaign_id, datetime.now(UTC) + timedelta(hours=1))
        assert [j.id for j in scheduler.runner.jobs()] == ["sync"]
    finally:
        scheduler.stop()
