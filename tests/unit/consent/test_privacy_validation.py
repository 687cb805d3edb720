"""Privacy-request input: every bad field named at once, no value echoed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from meshkit.errors import InvalidArgument
from protos.crm.consent.v1 import consent_pb2 as pb
from services.consent import privacy_mapping
from services.consent.privacy_policy import Kind
from services.consent.privacy_validation import (
    OpenRequest,
    decode_page_token,
    encode_page_token,
    valid_open,
)

CONTACT = str(uuid.uuid4())


def fields(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def test_a_request_needs_a_kind_and_a_contact_id() -> None:
    with pytest.raises(InvalidArgument) as error:
        valid_open(OpenRequest(None, "Not-An-Id"))
    assert fields(error) == ["kind", "contact_id"]
    assert "Not-An-Id" not in str(error.value)


def test_rectification_values_come_with_that_kind_only() -> None:
    with pytest.raises(InvalidArgument) as error:
        valid_open(OpenRequest(Kind.ERASURE, CONTACT, has_rectification=True))
    assert fields(error) == ["rectification"]
    with pytest.raises(InvalidArgument) as error:
        valid_open(OpenRequest(Kind.RECTIFICATION, CONTACT))
    assert fields(error) == ["rectification.owner_component", "rectification"]
    secret = "s3cret-value"
    with pytest.raises(InvalidArgument) as error:
        valid_open(
            OpenRequest(
                Kind.RECTIFICATION,
                CONTACT,
                owner_component="law",
                values={"last_name": secret * 1000},
                clear=["last_name"],
            )
        )
    assert fields(error) == ["rectification.set.last_name", "rectification.clear[0]"]
    assert secret not in str(error.value)


def test_a_valid_rectification() -> None:
    valid = valid_open(
        OpenRequest(Kind.RECTIFICATION, CONTACT, "law", {"last_name": "Dupont"}, ["phone"])
    )
    assert valid.rectification is not None
    assert (valid.rectification.owner, valid.rectification.clear) == ("law", ("phone",))


def test_page_tokens_round_trip_and_forgeries_are_refused() -> None:
    at, request_id = datetime(2025, 1, 2, tzinfo=UTC), str(uuid.uuid4())
    assert decode_page_token(encode_page_token(at, request_id)) == (at, request_id)
    assert decode_page_token("") is None
    for forged in ("nope", "e30", encode_page_token(at, "x")):
        with pytest.raises(InvalidArgument):
            decode_page_token(forged)


def test_an_unknown_kind_reaches_validation_as_missing() -> None:
    message = pb.OpenPrivacyRequestRequest(kind=99, contact_id=CONTACT)  # type: ignore[arg-type]
    assert privacy_mapping.open_request(message).kind is None
    message = pb.OpenPrivacyRequestRequest(
        kind=pb.PRIVACY_REQUEST_KIND_RECTIFICATION,
        contact_id=CONTACT,
        rectification=pb.Rectification(owner_component="law", set={"a": "b"}, clear=["c"]),
    )
    opened = privacy_mapping.open_request(message)
    assert (opened.kind, opened.values, opened.clear) == (Kind.RECTIFICATION, {"a": "b"}, ["c"])
    assert opened.has_rectification
