"""A preview (dry run) agrees with the real send made right after it, and writes nothing."""

from __future__ import annotations

import pytest

from meshkit.errors import FailedPrecondition, NotFound
from services.campaigns.validation import Audience, AudienceKind, Draft
from tests.integration.campaigns.test_dispatch import (  # noqa: F401  (fixtures)
    SCIENCES,
    World,
    backend,
    manager,
    smtp,
    world,
)

ALL = "news", "Bonjour {{ first_name }}", "Cher {{ display_name }}, {{ lettres.secret }}."


def draft_for(world: World, contact_ids: list[str]) -> str:  # noqa: F811
    name, subject, body = ALL
    draft = Draft(
        name=name,
        purpose="newsletter",
        subject_template=subject,
        body_template=body,
        audience=Audience(AudienceKind.CONTACT_IDS, tuple(contact_ids)),
    )
    return world.campaigns.service.create(SCIENCES, draft).id


def test_preview_equals_the_real_send_and_reserves_nothing(world: World) -> None:  # noqa: F811
    mailed = world.person("sciences")
    world.send([mailed])
    world.drain()  # the budget of one mail per window is spent for `mailed`
    people = {
        "mailed": mailed,
        "fresh": world.person("sciences", first_name="Ada"),
        "fresh2": world.person("sciences", "lettres"),
        "silent": world.person("sciences", consent="none"),
        "gone": world.person("sciences", consent="withdrawn"),
        "elsewhere": world.person("lettres"),
        "legacy": world.person("sciences"),
    }
    world.legacy[people["legacy"]] = "not an address"
    campaign_id = draft_for(world, list(people.values()))
    previews = world.campaigns.previews
    assert previews is not None

    seen: dict[str, tuple[str, str]] = {}
    first = previews.preview(SCIENCES, campaign_id, 3, "")
    page = first
    while True:
        seen.update({r.contact_id: (r.outcome, r.rule) for r in page.rows})
        if not page.next_page_token:
            break
        page = previews.preview(SCIENCES, campaign_id, 3, page.next_page_token)
        assert page.counts == {}  # counted once, on the first page
    assert first.audience == len(people) == len(seen)
    assert first.counts == {
        "sent": 2,
        "deferred": 1,
        "no_consent": 1,
        "withdrawn": 1,
        "not_member": 1,
        "invalid_address": 1,
    }
    assert seen[people["mailed"]] == ("deferred", "pressure:grouping:1/604800s")
    # Nothing reserved, nothing written: the slots and the ledger are as before.
    assert world.redis.zcard(world.campaigns.pressure.log_key(people["fresh"])) == 0
    assert world.ledger(campaign_id) == {}

    world.campaigns.service.send_now(SCIENCES, campaign_id)
    world.drain()
    assert world.outcomes(campaign_id) == seen


def test_only_the_owners_managers_preview_before_the_send(world: World) -> None:  # noqa: F811
    person = world.person("sciences")
    campaign_id = draft_for(world, [person])
    previews = world.campaigns.previews
    assert previews is not None
    with pytest.raises(NotFound):
        previews.preview(manager("lettres"), campaign_id, 10, "")
    rows = previews.preview(SCIENCES, campaign_id, 10, "").rows
    assert [r.outcome for r in rows] == ["sent"]
    assert "lettres.secret" not in rows[0].merge_fields  # only what sciences may see
    world.campaigns.service.send_now(SCIENCES, campaign_id)
    with pytest.raises(FailedPrecondition):
        previews.preview(SCIENCES, campaign_id, 10, "")
