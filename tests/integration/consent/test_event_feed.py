"""ListConsentEvents: consent's withdrawals and objections after a cursor, for services only.

Against the real `crm serve consent` (and its contacts): the feed lists the kinds asked,
oldest first, pages by its cursor, names nothing but the contact, kind, purpose and time,
refuses anyone but a service, and refuses kinds other than withdrawals and objections.
"""

from __future__ import annotations

import grpc
import pytest

from protos.crm.consent.v1 import consent_pb2 as pb
from tests.integration.consent.harness import (
    GROUPING,
    OWNER,
    TIMEOUT,
    RunningConsent,
    change,
    component,
    grant,
    withdraw,
)


def feed(
    consent: RunningConsent, after: int = 0, kinds: tuple[str, ...] = (), page_size: int = 0
) -> pb.ListConsentEventsResponse:
    request = pb.ListConsentEventsRequest(after=after, kinds=list(kinds), page_size=page_size)
    token = consent.keys.service("campaigns")
    return consent.stub.ListConsentEvents(request, metadata=consent.auth(token), timeout=TIMEOUT)  # type: ignore[no-any-return]


def everything_after(consent: RunningConsent, after: int, kinds: tuple[str, ...] = ()) -> list:  # type: ignore[type-arg]
    found = []
    while True:
        page = feed(consent, after, kinds, page_size=2)
        found += list(page.events)
        if not page.events:
            assert page.next == after  # an empty page leaves the cursor where it was
            return found
        assert page.next == page.events[-1].id
        after = page.next


def object_to_marketing(consent: RunningConsent, contact_id: str) -> None:
    request = pb.ObjectionRequest(
        contact_id=contact_id, how=pb.HOW_PREFERENCE_PAGE, source="preference-page"
    )
    consent.stub.Object(
        request, metadata=consent.auth(consent.keys.service("gateway")), timeout=TIMEOUT
    )


def test_the_feed_lists_withdrawals_and_objections_in_order_and_pages_by_cursor(
    consent: RunningConsent,
) -> None:
    start = feed(consent, 0, page_size=5000).next  # whatever other tests of the module wrote
    manager = consent.keys.manager(OWNER)
    first, second = consent.new_contact(), consent.new_contact()
    grant(consent, manager, change(first, component(OWNER)))
    admin = consent.keys.admin()
    grant(consent, admin, change(second, GROUPING))
    withdraw(consent, manager, change(first, component(OWNER)))
    object_to_marketing(consent, second)
    withdraw(consent, admin, change(second, GROUPING))

    listed = everything_after(consent, start)
    mine = [(e.contact_id, e.kind, e.purpose) for e in listed if e.contact_id in (first, second)]
    # the grants are not listed; the objection names no purpose
    assert mine == [
        (first, "withdrawn", "newsletter"),
        (second, "objected", ""),
        (second, "withdrawn", "newsletter"),
    ]
    ids = [e.id for e in listed]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(e.at.seconds > 0 for e in listed)
    objections = everything_after(consent, start, ("objected",))
    assert [(e.contact_id, e.kind) for e in objections if e.contact_id in (first, second)] == [
        (second, "objected")
    ]
    # nothing after the last cursor
    assert list(feed(consent, listed[-1].id).events) == []


def test_the_feed_carries_no_actor_address_ip_or_text(consent: RunningConsent) -> None:
    manager = consent.keys.manager(OWNER)
    contact = consent.new_contact()
    grant(consent, manager, change(contact, component(OWNER), text_shown="Secret wording 42"))
    withdraw(consent, manager, change(contact, component(OWNER), text_shown="Secret wording 42"))
    page = feed(consent, 0, page_size=5000)
    assert any(e.contact_id == contact for e in page.events)
    raw = page.SerializeToString()
    for private in (b"Secret wording", b"manager@", b"example.org", OWNER.encode() + b"@"):
        assert private not in raw
    assert set(pb.ListedConsentEvent.DESCRIPTOR.fields_by_name) == {
        "id",
        "contact_id",
        "kind",
        "purpose",
        "at",
    }


@pytest.mark.parametrize("who", ["manager", "admin", "dpo"])
def test_only_a_service_may_read_the_feed(consent: RunningConsent, who: str) -> None:
    token = {
        "manager": consent.keys.manager(OWNER),
        "admin": consent.keys.admin(),
        "dpo": consent.keys.issuer.mint("dpo@grouping", roles=["dpo"]),
    }[who]
    with pytest.raises(grpc.RpcError) as refused:
        consent.stub.ListConsentEvents(
            pb.ListConsentEventsRequest(), metadata=consent.auth(token), timeout=TIMEOUT
        )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"kinds": ["granted"]}, "kinds"),
        ({"after": -1}, "after"),
        ({"page_size": 5001}, "page_size"),
    ],
)
def test_a_bad_request_names_its_field(
    consent: RunningConsent, request_fields: dict[str, object], field: str
) -> None:
    token = consent.keys.service("campaigns")
    with pytest.raises(grpc.RpcError) as refused:
        consent.stub.ListConsentEvents(
            pb.ListConsentEventsRequest(**request_fields),  # type: ignore[arg-type]
            metadata=consent.auth(token),
            timeout=TIMEOUT,
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.value.details() or "")
