"""A campaign's reach counted in the background agrees with the synchronous preview,
is counted once across replicas, is taken over after a crash, and writes nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from meshkit.errors import NotFound
from services.campaigns.ledger import utc_now
from services.campaigns.models import ReachSnapshot
from services.campaigns.preview import Previews, revision_of
from services.campaigns.reach import Reaches, ReachView, preview_page
from services.campaigns.validation import Audience, AudienceKind, CampaignEdit
from tests.integration.campaigns.test_dispatch import (  # noqa: F401  (fixtures)
    SCIENCES,
    World,
    backend,
    manager,
    smtp,
    world,
)
from tests.integration.campaigns.test_preview import draft_for

WAIT_SECONDS = 60.0  # a bound on waiting for the background count, never asserted on


def reaches_of(world: World) -> Reaches:  # noqa: F811
    reaches = world.campaigns.reaches
    assert reaches is not None
    return reaches


def previews_of(world: World) -> Previews:  # noqa: F811
    previews = world.campaigns.previews
    assert previews is not None
    return previews


def until_done(reaches: Reaches, campaign_id: str) -> ReachView:
    """GetReach again and again until the count in hand is over (as the console page does)."""
    bound = time.monotonic() + WAIT_SECONDS
    while True:
        view = reaches.get(SCIENCES, campaign_id)
        if view.status != "counting" or time.monotonic() > bound:
            return view
        time.sleep(0.1)


@pytest.fixture
def replica(world: World) -> Iterator[Reaches]:  # noqa: F811
    """Another campaigns replica's reach counts, on the same database."""
    other = Reaches(world.campaigns.db, previews_of(world), runner=lambda: "replica-2")
    yield other
    other.close()


def test_the_snapshot_counts_what_the_synchronous_preview_counts(world: World) -> None:  # noqa: F811
    mailed = world.person("sciences")
    world.send([mailed])
    world.drain()  # the budget of one mail per window is spent for `mailed`
    people = [
        mailed,
        world.person("sciences"),
        world.person("sciences", "lettres"),
        world.person("sciences", consent="none"),
        world.person("sciences", consent="withdrawn"),
        world.person("lettres"),
    ]
    campaign_id = draft_for(world, [*people, "no-such-contact"])
    keys_before = _slot_keys(world)
    reaches = reaches_of(world)

    first = reaches.get(SCIENCES, campaign_id)
    assert first.status == "counting"  # answered at once, counted in the background
    done = until_done(reaches, campaign_id)

    synchronous = previews_of(world).preview(SCIENCES, campaign_id, 10, "")
    assert done.status == "done"
    assert done.counts == synchronous.counts
    assert done.counts == {
        "sent": 2,
        "deferred": 1,
        "no_consent": 1,
        "withdrawn": 1,
        "not_member": 2,
    }
    assert done.audience == done.evaluated == synchronous.audience == 7
    assert done.finished_at is not None and done.started_at is not None
    assert not done.stale
    # Peek only: no ledger row, no pressure slot (the logs' "rebuilt from the ledger"
    # markers aside, which the preview's peek leaves as well).
    assert world.ledger(campaign_id) == {}
    assert _slot_keys(world) == keys_before
    for person in people[1:]:
        assert world.redis.zcard(world.campaigns.pressure.log_key(person)) == 0
    # Asked again, the snapshot is answered as it is: no second count.
    assert reaches.get(SCIENCES, campaign_id) == done


def test_the_preview_page_without_counts_lists_recipients_only(world: World) -> None:  # noqa: F811
    people = [world.person("sciences") for _ in range(3)]
    campaign_id = draft_for(world, people)
    page = previews_of(world).preview(SCIENCES, campaign_id, 2, "", skip_counts=True)
    assert page.counts == {}
    assert page.audience == 3 and len(page.rows) == 2
    assert [r.outcome for r in page.rows] == ["sent", "sent"]


def test_a_first_page_over_the_count_limit_answers_at_once_and_starts_the_count(
    world: World,  # noqa: F811
) -> None:
    """An audience larger than the preview counts within a call (100,000 recipients outlived
    the gateway's deadline): the first page lists its recipients, says the counts are
    deferred, and the reach count it started agrees with what the first page would count."""
    people = [world.person("sciences") for _ in range(3)]
    people.append(world.person("sciences", consent="none"))
    campaign_id = draft_for(world, people)
    previews = previews_of(world)
    reaches = reaches_of(world)
    kept = previews.count_max
    previews.count_max = len(people) - 1
    try:
        page = preview_page(previews, reaches, SCIENCES, campaign_id, 2, "")
        assert (page.counts, page.counts_deferred) == ({}, True)
        assert page.audience == 4 and len(page.rows) == 2 and page.next_page_token
        with world.campaigns.db.transaction() as session:  # the page started the count
            assert session.get(ReachSnapshot, campaign_id) is not None
        done = until_done(reaches, campaign_id)
        assert (done.status, done.counts) == ("done", {"sent": 3, "no_consent": 1})
        following = preview_page(previews, reaches, SCIENCES, campaign_id, 2, page.next_page_token)
        assert (following.counts, following.counts_deferred) == ({}, False)
        previews.count_max = len(people)  # at the limit: counted within the call
        counted = preview_page(previews, reaches, SCIENCES, campaign_id, 2, "")
        assert (counted.counts, counted.counts_deferred) == (done.counts, False)
    finally:
        previews.count_max = kept
    assert world.ledger(campaign_id) == {}


def test_an_edit_makes_the_snapshot_stale_and_it_is_counted_again(world: World) -> None:  # noqa: F811
    willing = world.person("sciences")
    campaign_id = draft_for(world, [willing])
    reaches = reaches_of(world)
    reaches.get(SCIENCES, campaign_id)
    assert until_done(reaches, campaign_id).counts == {"sent": 1}

    silent = world.person("sciences", consent="none")
    edit = CampaignEdit(audience=Audience(AudienceKind.CONTACT_IDS, (willing, silent)))
    world.campaigns.service.update(SCIENCES, campaign_id, edit)
    recounted = until_done(reaches, campaign_id)
    assert recounted.status == "done" and not recounted.stale
    assert recounted.counts == {"sent": 1, "no_consent": 1}


def test_while_a_count_runs_no_second_one_starts_and_an_edit_shows_stale(
    world: World,  # noqa: F811
    replica: Reaches,
) -> None:
    campaign_id = draft_for(world, [world.person("sciences")])
    reaches = reaches_of(world)
    campaign = previews_of(world).previewable(SCIENCES, campaign_id)
    token = replica.claim(campaign_id, revision_of(campaign))
    assert token is not None  # replica 2 counts (it holds a live lease)

    # Neither this replica nor a refresh starts a second count over it.
    assert reaches.claim(campaign_id, revision_of(campaign)) is None
    held = reaches.get(SCIENCES, campaign_id, refresh=True)
    assert (held.status, held.evaluated) == ("counting", 0)
    assert _row(world, campaign_id).claim_token == token

    world.campaigns.service.update(SCIENCES, campaign_id, CampaignEdit(priority=9))
    assert reaches.get(SCIENCES, campaign_id).stale  # counted for the earlier version
    assert _row(world, campaign_id).claim_token == token

    # The replica's count ends; the next ask counts the new version.
    assert replica.count(campaign, token)
    assert _row(world, campaign_id).status == "done"
    again = until_done(reaches, campaign_id)
    assert again.status == "done" and not again.stale and again.counts == {"sent": 1}


def test_a_crashed_count_is_taken_over_after_its_lease(world: World, replica: Reaches) -> None:  # noqa: F811
    campaign_id = draft_for(world, [world.person("sciences"), world.person("sciences")])
    campaign = previews_of(world).previewable(SCIENCES, campaign_id)
    crashed = replica.claim(campaign_id, revision_of(campaign))
    assert crashed is not None  # ... and replica 2 dies without counting
    reaches = reaches_of(world)
    assert reaches.get(SCIENCES, campaign_id).status == "counting"
    assert _row(world, campaign_id).claim_token == crashed

    # Once the lease is over, the next ask takes the row over and counts.
    later = Reaches(
        world.campaigns.db,
        previews_of(world),
        clock=lambda: utc_now() + timedelta(hours=1),
        runner=lambda: "replica-3",
    )
    try:
        bound = time.monotonic() + WAIT_SECONDS
        view = later.get(SCIENCES, campaign_id)
        while view.status == "counting" and time.monotonic() < bound:
            time.sleep(0.1)
            view = later.get(SCIENCES, campaign_id)
    finally:
        later.close()
    assert view.status == "done" and view.counts == {"sent": 2}
    row = _row(world, campaign_id)
    assert row.claimed_by == "replica-3" and row.claim_token != crashed
    # The crashed count, were it to wake up, lost the row: it writes nothing more.
    assert not replica.count(campaign, crashed)
    assert _row(world, campaign_id).counts == {"sent": 2}


def test_another_components_manager_gets_not_found(world: World) -> None:  # noqa: F811
    campaign_id = draft_for(world, [world.person("sciences")])
    with pytest.raises(NotFound):
        reaches_of(world).get(manager("lettres"), campaign_id, refresh=True)
    assert _row_or_none(world, campaign_id) is None  # nothing started for them


def _slot_keys(world: World) -> dict[str, int]:  # noqa: F811
    """Every pressure key but the rebuilt markers, with its size."""
    keys = world.redis.keys(f"{world.prefix}*")
    return {
        k: world.redis.zcard(k) if world.redis.type(k) in ("zset", b"zset") else 1
        for k in keys
        if not str(k).endswith("rebuilt") and not str(k).endswith("rebuilt'")
    }


def _row_or_none(world: World, campaign_id: str) -> ReachSnapshot | None:  # noqa: F811
    with world.campaigns.db.transaction() as session:
        return session.get(ReachSnapshot, campaign_id)


def _row(world: World, campaign_id: str) -> ReachSnapshot:  # noqa: F811
    row = _row_or_none(world, campaign_id)
    assert row is not None
    return row
