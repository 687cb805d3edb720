"""Purposes, notices, who may record, objections, double opt-in and the state at T,
through a real consent process that asks a real contacts process."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from protos.crm.consent.v1 import consent_pb2 as pb
from tests.integration.consent.harness import (
    GROUPING,
    TIMEOUT,
    RunningConsent,
    change,
    check,
    component,
    grant,
)


def call(consent: RunningConsent, name: str, request: object, token: str) -> object:
    return getattr(consent.stub, name)(request, metadata=consent.auth(token), timeout=TIMEOUT)


def refused(consent: RunningConsent, name: str, request: object, token: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(consent, name, request, token)
    return caught.value


def publish(consent: RunningConsent, purpose: str, text: str) -> pb.Notice:
    request = pb.PublishNoticeRequest(purpose=purpose, language="fr", text=text)
    return call(consent, "PublishNotice", request, consent.keys.admin())  # type: ignore[return-value]


def test_staff_record_only_for_contacts_their_component_knows(consent: RunningConsent) -> None:
    contact = consent.new_contact()  # law's contact only
    rows = consent.rows()
    error = refused(
        consent, "Grant", change(contact, component("sciences")), consent.keys.manager("sciences")
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert consent.rows() == rows


def test_a_component_that_does_not_know_the_contact_reads_nothing_of_its_consent(
    consent: RunningConsent,
) -> None:
    contact = consent.new_contact()  # law's contact only
    grant(consent, consent.keys.admin(), change(contact, GROUPING))  # every component sees it
    outsider = consent.keys.manager("sciences")
    for name, request in (
        ("GetHistory", pb.GetHistoryRequest(contact_id=contact)),
        ("GetState", pb.GetStateRequest(contact_id=contact)),
    ):
        error = refused(consent, name, request, outsider)
        # The same answer as for a contact that does not exist: nothing to learn by probing.
        assert error.code() == grpc.StatusCode.NOT_FOUND, name
        assert contact not in (error.details() or "")
        member = call(consent, name, request, consent.keys.manager("law"))
        assert member.events  # type: ignore[attr-defined]


def test_notices_are_versioned_and_a_grant_names_one_of_its_purpose(
    consent: RunningConsent,
) -> None:
    first = publish(consent, "newsletter", "Je souhaite recevoir la lettre.")
    second = publish(consent, "newsletter", "Je souhaite recevoir la lettre mensuelle.")
    other = publish(consent, "events", "Je souhaite être invitée.")
    assert second.version == first.version + 1
    listed = call(
        consent, "ListNotices", pb.ListNoticesRequest(purpose="newsletter"), consent.keys.admin()
    )
    assert [n.id for n in listed.notices][-2:] == [first.id, second.id]  # type: ignore[attr-defined]
    contact = consent.new_contact()
    manager = consent.keys.manager("law")
    rows = consent.rows()
    error = refused(
        consent, "Grant", change(contact, component("law"), notice_id=other.id), manager
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert consent.rows() == rows
    event = grant(consent, manager, change(contact, component("law"), notice_id=first.id))
    assert event.notice_id == first.id and event.kind == pb.EVENT_KIND_GRANTED


def test_an_objection_stops_every_marketing_purpose_once(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    grant(consent, consent.keys.manager("law"), change(contact, component("law")))
    grant(consent, consent.keys.admin(), change(contact, GROUPING, purpose="alumni"))
    objection = pb.ObjectionRequest(contact_id=contact, how=pb.HOW_INBOUND_MAIL, source="mail")
    gateway = consent.keys.service("inbound")
    first = call(consent, "Object", objection, gateway)
    rows = consent.rows()
    again = call(consent, "Object", objection, gateway)
    assert again == first and consent.rows() == rows  # idempotent
    for purpose in ("newsletter", "alumni"):
        [result] = check(consent, "law", contact, purpose=purpose)
        assert not result.allowed and result.decision == pb.DECISION_OBJECTED
    # Staff without the dpo role may not object for the whole grouping.
    staff = pb.ObjectionRequest(contact_id=contact, source="phone")
    error = refused(consent, "Object", staff, consent.keys.manager("law"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_pending_grant_allows_only_once_confirmed(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    pending = grant(
        consent, consent.keys.manager("law"), change(contact, component("law"), pending=True)
    )
    [before] = check(consent, "law", contact)
    assert not before.allowed and before.decision == pb.DECISION_PENDING
    confirm = pb.ConfirmRequest(
        grant_event_id=pending.id, how=pb.HOW_ONE_CLICK, source="link", ip="192.0.2.7"
    )
    error = refused(consent, "Confirm", confirm, consent.keys.manager("law"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    confirmed = call(consent, "Confirm", confirm, consent.keys.service("gateway"))
    assert call(consent, "Confirm", confirm, consent.keys.service("gateway")) == confirmed
    [after] = check(consent, "law", contact)
    assert after.allowed and after.deciding_event_id == confirmed.id  # type: ignore[attr-defined]
    assert after.basis == pb.LEGAL_BASIS_CONSENT


def test_the_state_at_a_past_time_ignores_later_events(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    manager = consent.keys.manager("law")
    granted = grant(consent, manager, change(contact, component("law")))
    time.sleep(0.01)
    between = Timestamp()
    between.FromDatetime(datetime.now(UTC))
    time.sleep(0.01)
    consent.stub.Withdraw(
        change(contact, component("law"), text_shown=""),
        metadata=consent.auth(manager),
        timeout=TIMEOUT,
    )

    def newsletter_email_law(reply: pb.GetStateResponse) -> pb.StateEntry:
        return next(
            e
            for e in reply.entries
            if e.purpose == "newsletter"
            and e.channel == pb.CHANNEL_EMAIL
            and e.scope.component_id == "law"
        )

    then = call(consent, "GetState", pb.GetStateRequest(contact_id=contact, at=between), manager)
    now = call(consent, "GetState", pb.GetStateRequest(contact_id=contact), manager)
    past = newsletter_email_law(then)  # type: ignore[arg-type]
    assert past.allowed and past.deciding_event_id == granted.id
    assert len(then.events) == 1  # type: ignore[attr-defined]
    assert newsletter_email_law(now).decision == pb.DECISION_WITHDRAWN  # type: ignore[arg-type]


def test_purposes_are_managed_by_admins_and_listed_to_anyone(consent: RunningConsent) -> None:
    new = pb.Purpose(
        key="doctoral_school",
        label_fr="École doctorale",
        label_en="Doctoral school",
        channels=[pb.CHANNEL_EMAIL],
        marketing=True,
    )
    error = refused(consent, "CreatePurpose", new, consent.keys.manager("law"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    created = call(consent, "CreatePurpose", new, consent.keys.admin())
    assert created.retention_months == 36 and created.active  # type: ignore[attr-defined]
    listed = call(consent, "ListPurposes", pb.ListPurposesRequest(), consent.keys.manager("law"))
    assert "doctoral_school" in {p.key for p in listed.purposes}  # type: ignore[attr-defined]
    off = pb.UpdatePurposeRequest(key="doctoral_school", fields=["active"], active=False)
    call(consent, "UpdatePurpose", off, consent.keys.admin())
    contact = consent.new_contact()
    error = refused(
        consent,
        "Grant",
        change(contact, component("law"), purpose="doctoral_school"),
        consent.keys.manager("law"),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    rule = pb.BasisRule(
        purpose="newsletter",
        channel=pb.CHANNEL_POST,
        contact_kind=pb.CONTACT_KIND_CONSUMER,
        basis=pb.LEGAL_BASIS_CONTRACT,
    )
    call(consent, "SetBasisRule", rule, consent.keys.admin())
    request = pb.CheckBatchRequest(
        component_id="law",
        channel=pb.CHANNEL_POST,
        purpose="newsletter",
        items=[pb.CheckItem(contact_id=contact)],
    )
    [result] = call(consent, "CheckBatch", request, consent.keys.service()).results  # type: ignore[attr-defined]
    assert result.allowed and result.basis == pb.LEGAL_BASIS_CONTRACT


def test_several_changes_are_recorded_all_together_or_not_at_all(consent: RunningConsent) -> None:
    contact = consent.new_contact()
    law = consent.keys.manager("law")

    def to_record(action: int, **fields: object) -> pb.ChangeToRecord:
        return pb.ChangeToRecord(action=action, change=change(contact, component("law"), **fields))  # type: ignore[arg-type]

    rows = consent.rows()
    half_bad = pb.RecordChangesRequest(
        changes=[
            to_record(pb.ACTION_GRANT, purpose="events"),
            to_record(pb.ACTION_GRANT, purpose="newsletter"),
            to_record(pb.ACTION_WITHDRAW, purpose="no_such_purpose"),
        ]
    )
    error = refused(consent, "RecordChanges", half_bad, law)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert consent.rows() == rows  # the two good grants were not written either

    foreign = pb.RecordChangesRequest(
        changes=[
            to_record(pb.ACTION_GRANT),
            pb.ChangeToRecord(
                action=pb.ACTION_GRANT, change=change(contact, component("sciences"))
            ),
        ]
    )
    assert (
        refused(consent, "RecordChanges", foreign, law).code() == grpc.StatusCode.PERMISSION_DENIED
    )
    assert consent.rows() == rows

    good = pb.RecordChangesRequest(
        changes=[
            to_record(pb.ACTION_GRANT, purpose="events"),
            to_record(pb.ACTION_GRANT),
            to_record(pb.ACTION_WITHDRAW),  # in order: the newsletter ends withdrawn
        ]
    )
    reply = call(consent, "RecordChanges", good, law)
    kinds = [pb.EventKind.Name(e.kind) for e in reply.events]  # type: ignore[attr-defined]
    assert kinds == ["EVENT_KIND_GRANTED", "EVENT_KIND_GRANTED", "EVENT_KIND_WITHDRAWN"]
    assert consent.rows() == rows + 3
    assert [r.decision for r in check(consent, "law", contact)] == [pb.DECISION_WITHDRAWN]
    assert [r.decision for r in check(consent, "law", contact, purpose="events")] == [
        pb.DECISION_CONSENT_GIVEN
    ]
