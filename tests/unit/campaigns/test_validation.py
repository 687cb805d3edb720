"""What a new campaign must look like: every bad field named, ids deduplicated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshkit.errors import InvalidArgument
from services.campaigns.validation import (
    Audience,
    AudienceKind,
    CampaignEdit,
    Draft,
    OverBudget,
    edited,
    validated,
)

GOOD = Draft(
    name="Spring newsletter",
    purpose="newsletter",
    subject_template="Hello {{ first_name }}",
    body_template="Dear {{ display_name }},\nnews.",
    audience=Audience(AudienceKind.CONTACT_IDS, ("c1", "c2")),
)


def fields_of(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


def test_a_good_draft_passes() -> None:
    assert validated(GOOD) == GOOD


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"purpose": "News Letter"}, "purpose"),
        ({"purpose": ""}, "purpose"),
        ({"purpose": "x" * 65}, "purpose"),
        ({"subject_template": ""}, "subject_template"),
        ({"subject_template": "x" * 301}, "subject_template"),
        ({"subject_template": "Hi {{ secret_field }}"}, "subject_template"),
        ({"body_template": "{{ first_name"}, "body_template"),
        ({"body_template": "x" * 100_001}, "body_template"),
        ({"audience": None}, "audience"),
        ({"audience": Audience(AudienceKind.CONTACT_IDS, ())}, "audience.contact_ids.ids"),
        (
            {"audience": Audience(AudienceKind.CONTACT_IDS, ("a", ""))},
            "audience.contact_ids.ids[1]",
        ),
        (
            {"audience": Audience(AudienceKind.CONTACT_IDS, ("x" * 65,))},
            "audience.contact_ids.ids[0]",
        ),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, object], field: str) -> None:
    draft = Draft(**{**GOOD.__dict__, **changes})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as raised:
        validated(draft)
    assert field in fields_of(raised.value)


def test_all_bad_fields_are_reported_together() -> None:
    draft = Draft("", "BAD", "", "{{ nope }}", None)
    with pytest.raises(InvalidArgument) as raised:
        validated(draft)
    assert fields_of(raised.value) == {
        "name",
        "purpose",
        "subject_template",
        "body_template",
        "audience",
    }


def test_a_hundred_thousand_and_one_ids_are_too_many() -> None:
    ids = tuple(f"c{i}" for i in range(100_001))
    draft = Draft(**{**GOOD.__dict__, "audience": Audience(AudienceKind.CONTACT_IDS, ids)})
    with pytest.raises(InvalidArgument) as raised:
        validated(draft)
    assert fields_of(raised.value) == {"audience.contact_ids.ids"}


@given(st.lists(st.text(alphabet="abc123", min_size=1, max_size=4), min_size=1, max_size=50))
def test_ids_are_deduplicated_in_order(ids: list[str]) -> None:
    draft = Draft(**{**GOOD.__dict__, "audience": Audience(AudienceKind.CONTACT_IDS, tuple(ids))})
    result = validated(draft).audience
    assert result is not None
    assert list(result.contact_ids) == list(dict.fromkeys(ids))
    assert len(set(result.contact_ids)) == len(result.contact_ids)


# --- Campaign fields of issue 8: priority, deadline, over-budget rule, HTML body ----------

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


@given(st.integers(min_value=-1000, max_value=1000))
def test_priority_is_one_to_ten(priority: int) -> None:
    draft = replace(GOOD, priority=priority)
    if 1 <= priority <= 10:
        assert validated(draft).priority == priority
    else:
        with pytest.raises(InvalidArgument) as raised:
            validated(draft)
        assert fields_of(raised.value) == {"priority"}


@given(st.integers(min_value=-10_000, max_value=10_000), st.integers(min_value=0, max_value=100))
def test_a_deadline_must_be_after_now_and_after_the_planned_start(
    offset: int, start_in: int
) -> None:
    send_at = NOW + timedelta(seconds=start_in)
    draft = replace(GOOD, deadline=NOW + timedelta(seconds=offset))
    if offset > start_in:
        assert validated(draft, NOW, send_at).deadline == draft.deadline
    else:
        with pytest.raises(InvalidArgument) as raised:
            validated(draft, NOW, send_at)
        assert fields_of(raised.value) == {"deadline"}


def test_the_html_body_follows_the_merge_field_rules_of_the_text_body() -> None:
    assert validated(replace(GOOD, html_body_template="")).html_body_template == ""
    good = "<p>Bonjour {{ first_name }}</p>"
    assert validated(replace(GOOD, html_body_template=good)).html_body_template == good
    for bad in ("<p>{{ salary }}</p>", "<p>{{ first_name</p>", "   ", "x" * 200_001):
        with pytest.raises(InvalidArgument) as raised:
            validated(replace(GOOD, html_body_template=bad))
        assert fields_of(raised.value) == {"html_body_template"}


def test_an_edit_changes_only_what_it_names() -> None:
    deadline = NOW + timedelta(days=1)
    current = replace(GOOD, deadline=deadline, html_body_template="<p>x</p>")
    assert edited(current, CampaignEdit()) == current
    assert CampaignEdit().empty and not CampaignEdit(priority=3).empty
    changed = edited(current, CampaignEdit(name="Autre", over_budget=OverBudget.DROP))
    assert changed == replace(current, name="Autre", over_budget=OverBudget.DROP)
    assert edited(current, CampaignEdit(clear_deadline=True)).deadline is None
    assert edited(current, CampaignEdit(html_body_template="")).html_body_template == ""
    with pytest.raises(InvalidArgument) as raised:
        edited(current, CampaignEdit(deadline=deadline, clear_deadline=True))
    assert fields_of(raised.value) == {"deadline"}
