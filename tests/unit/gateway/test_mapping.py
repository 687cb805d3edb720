"""Messages to JSON: what the service left out stays out; enum words and times round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

from hypothesis import given
from hypothesis import strategies as st

from meshkit.unsubscribe import UnsubscribeRequest
from protos.crm.campaigns.v1 import campaigns_pb2
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import mapping, schemas
from services.gateway.api import json_response
from services.gateway.inputs import Requester

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


def as_json(model: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json_response(model, 200).get_data())
    return body


@st.composite
def contacts(draw: st.DrawFn) -> contacts_pb2.Contact:
    values = draw(
        st.dictionaries(
            text,
            st.builds(contacts_pb2.FieldValue, value=text, owner_component=text),
            max_size=4,
        )
    )
    return contacts_pb2.Contact(
        id=draw(text),
        kind=draw(
            st.sampled_from([contacts_pb2.CONTACT_KIND_PERSON, contacts_pb2.CONTACT_KIND_COMPANY])
        ),
        fields=values,
        member_components=draw(st.lists(text, max_size=3)),
        etag=draw(text),
        merged_from=draw(text),
    )


@given(contacts())
def test_a_contact_carries_exactly_the_values_the_service_sent(
    message: contacts_pb2.Contact,
) -> None:
    body = as_json(mapping.contact(message))
    expected_keys = {"id", "kind", "fields", "member_components", "etag"}
    assert set(body) == expected_keys | ({"merged_from"} if message.merged_from else set())
    assert body["fields"] == {
        name: {"value": v.value, "owner_component": v.owner_component}
        for name, v in message.fields.items()
    }
    assert body["member_components"] == list(message.member_components)


def test_a_merge_patch_sets_values_and_clears_nulls() -> None:
    patch = schemas.ContactPatch(fields={"job_title": "Directrice", "phone": None})
    request = mapping.contact_patch("c", "e", patch)
    assert dict(request.set) == {"job_title": "Directrice"}
    assert list(request.clear) == ["phone"]
    assert request.etag == "e"


def test_enum_words_round_trip() -> None:
    for word in get_args(schemas.Kind):
        request = mapping.new_contact(schemas.NewContact(kind=word, fields={}))
        assert (
            as_json(mapping.contact(contacts_pb2.Contact(id="c", kind=request.kind)))["kind"]
            == word
        )
    for word in get_args(schemas.Channel):
        grant = schemas.ConsentGrant(
            channel=word, purpose="p", scope="grouping", source="s", text_shown="t"
        )
        change = mapping.consent_grant("c", grant, "sciences")
        event = consent_pb2.ConsentEvent(channel=change.channel, legal_basis=change.legal_basis)
        assert as_json(mapping.consent_event(event))["channel"] == word


def test_component_scope_means_the_callers_component() -> None:
    grant = schemas.ConsentGrant(
        channel="email", purpose="p", scope="component", source="s", text_shown="t"
    )
    change = mapping.consent_grant("c-1", grant, "sciences")
    assert change.scope.WhichOneof("kind") == "component_id"
    assert change.scope.component_id == "sciences"
    event = consent_pb2.ConsentEvent(scope=change.scope, action=consent_pb2.ACTION_GRANT)
    body = as_json(mapping.consent_event(event))
    assert body["scope"] == {"component_id": "sciences"}
    assert body["action"] == "grant"
    assert "legal_basis" not in body  # unset stays absent


def test_grouping_scope_and_withdrawal() -> None:
    withdrawal = schemas.ConsentWithdrawal(channel="sms", purpose="p", scope="grouping", source="s")
    change = mapping.consent_withdrawal("c-1", withdrawal, "sciences")
    assert change.scope.WhichOneof("kind") == "grouping"
    assert as_json(mapping.consent_event(consent_pb2.ConsentEvent(scope=change.scope)))[
        "scope"
    ] == {"grouping": True}


@given(
    st.datetimes(
        min_value=datetime(2100, 1, 1),  # a send time must be in the future
        max_value=datetime(9000, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=9))]
        ),
    )
)
def test_schedule_keeps_the_instant_and_answers_in_utc(moment: datetime) -> None:
    request = mapping.schedule("k-1", schemas.Schedule(send_at=moment))
    assert request.send_at.ToDatetime(tzinfo=UTC) == moment.astimezone(UTC)
    campaign = campaigns_pb2.Campaign(id="k-1", send_at=request.send_at)
    sent = as_json(mapping.campaign(campaign))["send_at"]
    assert sent.endswith("Z")
    assert datetime.fromisoformat(sent) == moment


def test_a_campaign_without_times_has_no_time_fields() -> None:
    body = as_json(mapping.campaign(campaigns_pb2.Campaign(id="k-1")))
    assert "send_at" not in body and "created_at" not in body and "audience" not in body
    assert body["outcome_counts"] == {}


def test_audiences_round_trip() -> None:
    base = {"name": "n", "purpose": "p", "subject_template": "s", "body_template": "b"}
    for audience in ({"contact_ids": ["c-1", "c-2"]}, {"all_of_component": True}):
        body = schemas.NewCampaign.model_validate_json(json.dumps({**base, "audience": audience}))
        request = mapping.new_campaign(body)
        echoed = campaigns_pb2.Campaign(id="k", audience=request.audience)
        assert as_json(mapping.campaign(echoed))["audience"] == audience


def test_a_delivery_has_a_message_id_only_once_sent() -> None:
    pending = as_json(mapping.delivery(campaigns_pb2.Delivery(contact_id="c", outcome="pending")))
    assert "message_id" not in pending and "decided_at" not in pending
    sent = campaigns_pb2.Delivery(contact_id="c", outcome="sent", message_id="<m@x>")
    assert as_json(mapping.delivery(sent))["message_id"] == "<m@x>"


def test_one_click_withdrawal_is_email_grouping_and_names_the_campaign() -> None:
    person = Requester(ip="203.0.113.9", user_agent="Mail/1.0")
    change = mapping.one_click_withdrawal(UnsubscribeRequest("c-42", "newsletter", "k-7"), person)
    assert change.contact_id == "c-42"
    assert change.channel == consent_pb2.CHANNEL_EMAIL
    assert change.purpose == "newsletter"
    assert change.scope.WhichOneof("kind") == "grouping"
    assert change.source == "one-click-unsubscribe"
    assert "k-7" in change.text_shown
    assert (change.ip, change.user_agent, change.how) == (
        "203.0.113.9",
        "Mail/1.0",
        consent_pb2.HOW_ONE_CLICK,
    )
