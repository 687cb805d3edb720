"""Bad input, bad tokens and forbidden calls change nothing; health, reflection, append-only."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import sqlalchemy.exc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from sqlalchemy import text

from protos.crm.consent.v1 import consent_pb2 as pb
from tests.integration.consent.harness import (
    GROUPING,
    TIMEOUT,
    RunningConsent,
    change,
    component,
    grant,
)
from tests.support.tokens import TestKeys

SECRET = "never-echo-this-value"


def violations_of(error: grpc.RpcError) -> set[str]:
    """The fields named by the BadRequest detail of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no rich status on the error"
    fields: set[str] = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields |= {v.field for v in bad_request.field_violations}
    return fields


def refused(consent: RunningConsent, call: str, request: object, token: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        getattr(consent.stub, call)(request, metadata=consent.auth(token), timeout=TIMEOUT)
    return caught.value


BAD_CHANGES = [
    ({"contact_id": ""}, {"contact_id"}),
    ({"contact_id": SECRET * 10}, {"contact_id"}),
    ({"channel": pb.CHANNEL_UNSPECIFIED}, {"channel"}),
    ({"purpose": "Not A Purpose"}, {"purpose"}),
    ({"scope": pb.Scope()}, {"scope"}),
    ({"scope": pb.Scope(component_id="")}, {"scope.component_id"}),
    ({"source": ""}, {"source"}),
    ({"text_shown": ""}, {"notice_id"}),
    ({"purpose": "not-in-the-catalogue"}, {"purpose"}),
    ({"channel": pb.CHANNEL_SMS}, {"channel"}),
    ({"notice_id": "0b6c7f7e-5d1a-4f0e-9a53-2f6f3c1d8e42"}, {"notice_id"}),
    ({"how": pb.HOW_STAFF, "ip": "192.0.2.1"}, {"how"}),
    ({"text_shown": SECRET * 500}, {"text_shown"}),
    ({"contact_id": "", "purpose": "", "source": ""}, {"contact_id", "purpose", "source"}),
]


@pytest.mark.parametrize(("fields", "named"), BAD_CHANGES)
def test_a_bad_grant_names_its_fields_and_writes_nothing(
    consent: RunningConsent, fields: dict[str, object], named: set[str]
) -> None:
    rows = consent.rows()
    message = change(consent.new_contact(), component("law"), **fields)
    error = refused(consent, "Grant", message, consent.keys.manager("law"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(error) == named
    assert SECRET not in (error.details() or "")
    assert consent.rows() == rows


def test_a_bad_withdrawal_names_its_fields_and_writes_nothing(consent: RunningConsent) -> None:
    rows = consent.rows()
    message = change("", GROUPING, channel=pb.CHANNEL_UNSPECIFIED, text_shown="")
    error = refused(consent, "Withdraw", message, consent.keys.service("gateway"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(error) == {"contact_id", "channel"}
    assert consent.rows() == rows


def test_errors_never_reach_the_log_with_their_values(consent: RunningConsent) -> None:
    message = change(SECRET, component("law"), text_shown=SECRET * 500)
    refused(consent, "Grant", message, consent.keys.manager("law"))
    assert SECRET not in Path(consent.log).read_text()


def test_history_without_a_contact_id_is_invalid(consent: RunningConsent) -> None:
    error = refused(consent, "GetHistory", pb.GetHistoryRequest(), consent.keys.admin())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(error) == {"contact_id"}


def batch(size: int = 2, **fields: object) -> pb.CheckBatchRequest:
    values: dict[str, object] = {
        "component_id": "law",
        "channel": pb.CHANNEL_EMAIL,
        "purpose": "newsletter",
        "contact_ids": [f"c-{i}" for i in range(size)],
    }
    values.update(fields)
    return pb.CheckBatchRequest(**values)  # type: ignore[arg-type]


def test_check_batch_is_refused_to_non_service_tokens(consent: RunningConsent) -> None:
    for token in (consent.keys.manager("law"), consent.keys.admin()):
        error = refused(consent, "CheckBatch", batch(), token)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_check_batch_over_10000_items_is_invalid(consent: RunningConsent) -> None:
    error = refused(consent, "CheckBatch", batch(10_001), consent.keys.service())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(error) == {"items"}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"purpose": "not-in-the-catalogue"}, {"purpose"}),
        ({"channel": pb.CHANNEL_SMS}, {"channel"}),
    ],
)
def test_check_batch_refuses_an_unknown_purpose_or_a_channel_it_does_not_use(
    consent: RunningConsent, fields: dict[str, object], named: set[str]
) -> None:
    error = refused(consent, "CheckBatch", batch(**fields), consent.keys.service())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(error) == named


def test_check_batch_of_1000_contacts_answers_each(consent: RunningConsent) -> None:
    reply = consent.stub.CheckBatch(
        batch(1000), metadata=consent.auth(consent.keys.service()), timeout=TIMEOUT
    )
    assert [r.contact_id for r in reply.results] == [f"c-{i}" for i in range(1000)]


def test_check_batch_names_its_bad_fields(consent: RunningConsent) -> None:
    request = batch(component_id="", channel=pb.CHANNEL_UNSPECIFIED, purpose="", contact_ids=[""])
    error = refused(consent, "CheckBatch", request, consent.keys.service())
    assert violations_of(error) == {"component_id", "channel", "purpose", "items[0].contact_id"}


def untrusted_token(tmp_path: Path) -> str:
    return TestKeys(tmp_path).manager("law")


@pytest.mark.parametrize("kind", ["missing", "expired", "wrongly-signed", "garbage"])
def test_bad_tokens_are_unauthenticated_and_write_nothing(
    consent: RunningConsent, tmp_path: Path, kind: str
) -> None:
    tokens = {
        "expired": lambda: consent.keys.issuer.mint(
            "manager@law", component="law", roles=["campaign_manager"], ttl_seconds=-3600
        ),
        "wrongly-signed": lambda: untrusted_token(tmp_path),
        "garbage": lambda: "not-a-jwt",
    }
    metadata = [] if kind == "missing" else consent.auth(tokens[kind]())
    rows = consent.rows()
    with pytest.raises(grpc.RpcError) as caught:
        consent.stub.Grant(
            change(consent.new_contact(), component("law")), metadata=metadata, timeout=TIMEOUT
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert consent.rows() == rows


def test_health_is_serving(consent: RunningConsent) -> None:
    stub = health_pb2_grpc.HealthStub(consent.channel)
    for service in ("", "crm.consent.v1.ConsentService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_consent_service(consent: RunningConsent) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(consent.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [reply] = list(stub.ServerReflectionInfo(iter([request]), timeout=TIMEOUT))
    names = {s.name for s in reply.list_services_response.service}
    assert "crm.consent.v1.ConsentService" in names


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_events SET source = 'forged' WHERE id = :id",
        "DELETE FROM consent_events WHERE id = :id",
        "TRUNCATE consent_events",
    ],
)
def test_the_database_refuses_to_change_a_recorded_event(
    consent: RunningConsent, statement: str
) -> None:
    event = grant(
        consent, consent.keys.manager("law"), change(consent.new_contact(), component("law"))
    )
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
        with consent.database.begin() as connection:
            connection.execute(text(statement), {"id": event.id})
    with consent.database.connect() as connection:
        source = connection.execute(
            text("SELECT source FROM consent_events WHERE id = :id"), {"id": event.id}
        ).scalar_one()
    assert source == "web-form"
