"""Proto messages map to domain values without losing or inventing anything."""

from __future__ import annotations

from datetime import UTC, datetime

from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent import mapping
from services.consent.domain import (
    Channel,
    ConsentEvent,
    Decision,
    EventKind,
    LegalBasis,
    Scope,
    Verdict,
)


def test_scope_grouping_component_and_unset() -> None:
    assert mapping.scope_of(pb.Scope(grouping=True)) == Scope.grouping()
    assert mapping.scope_of(pb.Scope(component_id="law")) == Scope.of("law")
    assert mapping.scope_of(pb.Scope(grouping=False)) is None
    assert mapping.change_request(pb.ConsentChange()).scope is None


def test_an_empty_component_id_stays_a_component_scope_for_validation_to_refuse() -> None:
    assert mapping.scope_of(pb.Scope(component_id="")) == Scope.of("")


def test_unknown_or_unspecified_enums_become_none() -> None:
    request = mapping.change_request(pb.ConsentChange(channel=99, legal_basis=42))  # type: ignore[arg-type]
    assert request.channel is None and request.legal_basis is None
    assert mapping.change_request(pb.ConsentChange()).channel is None


def test_a_change_keeps_every_field() -> None:
    message = pb.ConsentChange(
        contact_id="c-1",
        channel=pb.CHANNEL_SMS,
        purpose="events",
        scope=pb.Scope(grouping=True),
        legal_basis=pb.LEGAL_BASIS_LEGITIMATE_INTEREST,
        source="fair",
        text_shown="ok",
    )
    request = mapping.change_request(message)
    assert (request.contact_id, request.channel, request.purpose) == ("c-1", Channel.SMS, "events")
    assert request.scope == Scope.grouping()
    assert request.legal_basis is LegalBasis.LEGITIMATE_INTEREST
    assert (request.source, request.text_shown) == ("fair", "ok")


def test_an_event_maps_to_its_message() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    event = ConsentEvent(
        seq=3,
        id="e-3",
        contact_id="c-1",
        channel=Channel.POST,
        purpose="alumni",
        scope=Scope.of("law"),
        kind=EventKind.WITHDRAWN,
        legal_basis=None,
        actor_subject="service:gateway",
        actor_component=None,
        source="one-click-unsubscribe",
        text_shown=None,
        recorded_at=when,
    )
    message = mapping.event_message(event)
    assert message.id == "e-3" and message.channel == pb.CHANNEL_POST
    assert message.scope.component_id == "law"
    assert message.action == pb.ACTION_WITHDRAW
    assert message.legal_basis == pb.LEGAL_BASIS_UNSPECIFIED
    assert message.actor_component == "" and message.text_shown == ""
    assert message.recorded_at.ToDatetime(tzinfo=UTC) == when


def test_batch_results_keep_request_order() -> None:
    verdicts = [
        ("b", Verdict(True, Decision.LEGITIMATE_INTEREST, "e-1")),
        ("a", Verdict(False, Decision.NO_CONSENT, None)),
    ]
    results = mapping.batch_message(verdicts).results
    assert [r.contact_id for r in results] == ["b", "a"]
    assert results[0].decision == pb.DECISION_LEGITIMATE_INTEREST and results[0].allowed
    assert results[1].deciding_event_id == "" and not results[1].allowed
