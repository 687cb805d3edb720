"""The preference form: applying its changes makes the state exactly what was ticked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.gateway.preference_form import (
    GROUPING,
    Choice,
    Offer,
    changes,
    in_recording_order,
    menu,
    subscriptions,
)

choices = st.builds(
    Choice,
    scope=st.sampled_from([GROUPING, "sciences", "lettres"]),
    purpose=st.sampled_from(["newsletter", "events", "alumni"]),
    channel=st.sampled_from(["email", "post"]),
)
choice_sets = st.sets(choices, max_size=12)


@given(offered=choice_sets, subscribed=choice_sets, ticked=choice_sets)
def test_the_state_after_the_changes_is_what_was_ticked_among_what_was_offered(
    offered: set[Choice], subscribed: set[Choice], ticked: set[Choice]
) -> None:
    asked = changes(offered, subscribed, [c.key for c in ticked])
    after = (set(subscribed) | set(asked.grants)) - set(asked.withdrawals)
    assert after & offered == ticked & offered
    # What the page did not offer is never touched.
    assert after - offered == subscribed - offered
    # No change is recorded for nothing: a second send of the same form asks for nothing.
    assert changes(offered, after, [c.key for c in ticked]).empty


@given(offered=choice_sets, subscribed=choice_sets)
def test_an_unchanged_form_records_nothing(offered: set[Choice], subscribed: set[Choice]) -> None:
    ticked = [c.key for c in offered if c in subscribed]
    assert changes(offered, subscribed, ticked).empty


def test_a_key_the_page_did_not_offer_is_ignored() -> None:
    offered = {Choice(GROUPING, "newsletter", "email")}
    forged = Choice("another", "fundraising", "email").key
    asked = changes(offered, set(), [forged, "not|a|choice|at all", ""])
    assert asked.empty


NEWS = Offer("newsletter", ("email", "post"), has_notice=True)
GIFTS = Offer("fundraising", ("email",), has_notice=False)


def test_a_box_for_every_purpose_channel_and_scope_grouping_first() -> None:
    offered = menu([NEWS], ["sciences"], frozenset()).offered
    assert offered == (
        Choice(GROUPING, "newsletter", "email"),
        Choice(GROUPING, "newsletter", "post"),
        Choice("sciences", "newsletter", "email"),
        Choice("sciences", "newsletter", "post"),
    )


def test_without_a_notice_nothing_can_be_granted_but_what_is_subscribed_can_be_withdrawn() -> None:
    subscribed = frozenset({Choice("sciences", "fundraising", "email")})
    boxes = menu([GIFTS], ["sciences"], subscribed)
    assert boxes.offered == (Choice("sciences", "fundraising", "email"),)
    assert boxes.unavailable == (Choice(GROUPING, "fundraising", "email"),)


def test_a_component_consent_does_not_name_reads_as_the_grouping() -> None:
    reachable = {
        Choice(GROUPING, "newsletter", "email"): True,
        Choice(GROUPING, "newsletter", "post"): False,
        Choice("sciences", "newsletter", "email"): False,  # withdrawn for sciences alone
    }
    subscribed = subscriptions(reachable, ["sciences", "droit"], [NEWS])
    assert subscribed == {
        Choice(GROUPING, "newsletter", "email"),
        Choice("droit", "newsletter", "email"),
    }


@given(st.lists(choices, max_size=12))
def test_grouping_choices_are_recorded_before_any_components(picked: list[Choice]) -> None:
    ordered = in_recording_order(picked)
    assert sorted(ordered) == sorted(picked)
    scopes = [c.is_grouping for c in ordered]
    assert scopes == sorted(scopes, reverse=True)


@given(offered=choice_sets, shown=choice_sets, now=choice_sets, ticked=choice_sets)
def test_only_what_the_person_changed_is_recorded_and_only_once(
    offered: set[Choice], shown: set[Choice], now: set[Choice], ticked: set[Choice]
) -> None:
    """`shown` is what the page showed ticked; the state may have moved since (`now`)."""
    shown_keys = ["", *(c.key for c in shown)]
    asked = changes(offered, now, [c.key for c in ticked], shown_keys)
    # A grant only from a box the person ticked; a withdrawal only from one they unticked.
    assert set(asked.grants) <= (ticked - shown) & offered
    assert set(asked.withdrawals) <= (shown - ticked) & offered
    after = (now | set(asked.grants)) - set(asked.withdrawals)
    # What they changed holds afterwards; what they left alone is as it was.
    assert (ticked - shown) & offered <= after
    assert not (shown - ticked) & offered & after
    untouched = offered - (ticked ^ shown)
    assert after & untouched == now & untouched
    assert changes(offered, after, [c.key for c in ticked], shown_keys).empty
