"""Grant, withdraw, check and read history over gRPC, against the real process."""

from __future__ import annotations

import grpc
import pytest

from protos.crm.consent.v1 import consent_pb2 as pb
from tests.integration.consent.harness import (
    GROUPING,
    RunningConsent,
    change,
    check,
    component,
    grant,
    history,
    withdraw,
)


def test_a_grant_allows_its_component(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    event = grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    assert event.action == pb.ACTION_GRANT
    assert event.legal_basis == pb.LEGAL_BASIS_CONSENT
    [result] = check(consent, "law", contact)
    assert result.contact_id == contact and result.allowed
    assert result.decision == pb.DECISION_CONSENT_GIVEN
    assert result.deciding_event_id == event.id


def test_legitimate_interest_is_reported_as_such(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    message = change(contact, GROUPING, legal_basis=pb.LEGAL_BASIS_LEGITIMATE_INTEREST)
    event = grant(consent, consent.keys.admin(), message)
    [result] = check(consent, "medicine", contact)
    assert result.allowed and result.decision == pb.DECISION_LEGITIMATE_INTEREST
    assert result.deciding_event_id == event.id


def test_a_grouping_withdrawal_denies_every_component(consent: RunningConsent) -> None:
    contact = consent.new_contact("sciences")
    grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    grant(consent, consent.keys.manager("sciences"), change(contact, component("sciences")))
    grant(consent, consent.keys.admin(), change(contact, GROUPING))
    assert all(r.allowed for r in check(consent, "law", contact))
    withdrawal = withdraw(
        consent,
        consent.keys.service("gateway"),
        change(contact, GROUPING, source="one-click-unsubscribe", text_shown="campaign c-42"),
    )
    for name in ("law", "sciences"):
        [result] = check(consent, name, contact)
        assert not result.allowed
        assert result.decision == pb.DECISION_WITHDRAWN
        assert result.deciding_event_id == withdrawal.id


def test_a_grouping_withdrawal_by_staff_needs_the_dpo_role(consent: RunningConsent) -> None:
    contact = consent.new_contact("medicine")
    grant(consent, consent.keys.admin(), change(contact, GROUPING))
    with pytest.raises(grpc.RpcError) as caught:
        withdraw(
            consent, consent.keys.manager("medicine"), change(contact, GROUPING, text_shown="")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    dpo = consent.keys.issuer.mint("dpo@medicine", component="medicine", roles=["dpo"])
    withdrawal = withdraw(consent, dpo, change(contact, GROUPING, text_shown=""))
    [result] = check(consent, "law", contact)
    assert result.decision == pb.DECISION_WITHDRAWN
    assert result.deciding_event_id == withdrawal.id


def test_a_component_grant_does_not_allow_another_component(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    [result] = check(consent, "sciences", contact)
    assert not result.allowed
    assert result.decision == pb.DECISION_NO_CONSENT
    assert result.deciding_event_id == ""


def test_check_batch_answers_in_request_order(consent: RunningConsent) -> None:
    granted, unknown = consent.new_contact(), consent.new_contact()
    event = grant(consent, consent.keys.manager("law"), change(granted, component("law")))
    results = check(consent, "law", unknown, granted, unknown)
    assert [r.contact_id for r in results] == [unknown, granted, unknown]
    assert [r.allowed for r in results] == [False, True, False]
    assert results[1].deciding_event_id == event.id
    assert check(consent, "law", granted, purpose="events")[0].decision == (pb.DECISION_NO_CONSENT)


def test_every_change_is_a_new_event_with_its_proof(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    token = consent.keys.manager("law", subject="alice@law")
    first = grant(consent, token, change(contact, component("law"), text_shown="v1 wording"))
    before = history(consent, consent.keys.admin(), contact)
    withdraw(consent, token, change(contact, component("law"), source="phone", text_shown=""))
    grant(consent, token, change(contact, component("law"), text_shown="v2 wording"))
    events = history(consent, consent.keys.admin(), contact)
    assert [e.action for e in events] == [pb.ACTION_GRANT, pb.ACTION_WITHDRAW, pb.ACTION_GRANT]
    assert events[0] == before[0] == first  # the first record is untouched
    assert len({e.id for e in events}) == 3
    for event in events:
        assert event.actor_subject == "alice@law" and event.actor_component == "law"
        assert event.HasField("recorded_at") and event.recorded_at.seconds > 0
    assert [e.source for e in events] == ["web-form", "phone", "web-form"]
    assert [e.text_shown for e in events] == ["v1 wording", "", "v2 wording"]
    stamps = [e.recorded_at.ToDatetime() for e in events]
    assert stamps == sorted(stamps)


def test_a_service_records_itself_as_the_actor(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    event = withdraw(consent, consent.keys.service("gateway"), change(contact, GROUPING))
    assert event.actor_subject == "service:gateway" and event.actor_component == ""


def test_component_callers_see_grouping_events_and_their_own(consent: RunningConsent) -> None:
    contact = consent.new_contact("sciences")
    law = grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    sci = grant(consent, consent.keys.manager("sciences"), change(contact, component("sciences")))
    group = grant(consent, consent.keys.admin(), change(contact, GROUPING))

    def ids(token: str) -> list[str]:
        return [e.id for e in history(consent, token, contact)]

    assert ids(consent.keys.manager("law")) == [law.id, group.id]
    assert ids(consent.keys.manager("sciences")) == [sci.id, group.id]
    # A component that is no member of the contact reads nothing, not even grouping events.
    with pytest.raises(grpc.RpcError) as caught:
        ids(consent.keys.manager("medicine"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert ids(consent.keys.admin()) == [law.id, sci.id, group.id]
    assert ids(consent.keys.service()) == [law.id, sci.id, group.id]


def test_history_needs_a_component_or_a_role(consent: RunningConsent) -> None:
    token = consent.keys.issuer.mint("nobody", roles=["campaign_manager"])
    with pytest.raises(grpc.RpcError) as caught:
        history(consent, token, consent.new_contact())
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("who", "scope"),
    [("law", component("sciences")), ("law", GROUPING), (None, component("law"))],
)
def test_grants_outside_ones_own_scope_are_refused_and_write_nothing(
    consent: RunningConsent, who: str | None, scope: pb.Scope
) -> None:
    token = (
        consent.keys.manager(who)
        if who
        else consent.keys.issuer.mint("nobody", roles=["campaign_manager"])
    )
    rows = consent.rows()
    with pytest.raises(grpc.RpcError) as caught:
        grant(consent, token, change(consent.new_contact(), scope))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert consent.rows() == rows


def test_withdrawing_another_components_scope_is_refused(consent: RunningConsent) -> None:
    rows = consent.rows()
    with pytest.raises(grpc.RpcError) as caught:
        withdraw(
            consent,
            consent.keys.manager("law"),
            change(consent.new_contact(), component("sciences")),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert consent.rows() == rows
