"""Double opt-in, revalidation and objection -> suppression, across the real mesh.

Every service runs as its own process (tests/support/mesh.py) against PostgreSQL,
with a real SMTP server catching what campaigns sends. The retention job is run
in this process against the consent process's own database with a moved clock
(the one fake): the mail it owes still goes through the real campaigns and SMTP,
and its links through the real gateway.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import grpc
import jwt
import pytest
from sqlalchemy import func, select

from meshkit.db import Database, make_engine
from meshkit.grpc_client import open_channel
from meshkit.identity import Principal
from meshkit.links import LinkKind, PersonLinks
from meshkit.roles import Role
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from services.consent import outbox_job, repository, retention, service
from services.consent.clients import GrpcContacts
from services.consent.domain import EventKind
from services.consent.mailer import GrpcMailer
from services.consent.models import ConsentEventRow, OutboxRow
from services.consent.outbox import Backoff
from services.consent.privacy_clients import GrpcContactsPrivacy
from services.consent.validation import CollectionRequest, RevalidateRequest
from tests.support.mesh import UNSUBSCRIBE_SECRET, Mesh
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

COMPONENT = "sciences"
TIMEOUT = 10
LINK = re.compile(r"http://[^\s]+/consent/(confirm|revalidate)/[A-Za-z0-9_.\-]+")
SERVICE = Principal("service:test", roles=frozenset({Role.SERVICE.value}))


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with Mesh(tmp_path_factory.mktemp("optin")) as running:
        admin = running.keys.admin()
        reply = running.api.call(
            "POST", "/v1/components", admin, {"id": COMPONENT, "name": "Sciences"}
        )
        assert reply.status in (200, 201), reply.text
        yield running


@pytest.fixture(scope="module")
def consent(mesh: Mesh) -> Iterator[consent_pb2_grpc.ConsentServiceStub]:
    with grpc.insecure_channel(mesh.targets["consent"]) as channel:
        yield consent_pb2_grpc.ConsentServiceStub(channel)


@pytest.fixture(scope="module")
def db(mesh: Mesh) -> Iterator[Database]:
    """The consent process's own database, for the job run in this process."""
    engine = make_engine(mesh.database_urls["consent"])
    yield Database(engine)
    engine.dispose()


def _as(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _new_contact(mesh: Mesh) -> tuple[str, str]:
    address = f"{uuid.uuid4().hex[:10]}@example.org"
    body = {"kind": "person", "fields": {"email": address, "first_name": "Camille"}}
    reply = mesh.api.call("POST", "/v1/contacts", mesh.keys.manager(COMPONENT), body)
    assert reply.status in (200, 201), reply.text
    return str(reply.json["contact"]["id"]), address


def _grant(
    mesh: Mesh,
    consent: consent_pb2_grpc.ConsentServiceStub,
    contact_id: str,
    pending: bool,
    how: consent_pb2.How.ValueType = consent_pb2.HOW_WEB_FORM,
) -> consent_pb2.ConsentEvent:
    change = consent_pb2.ConsentChange(
        contact_id=contact_id,
        channel=consent_pb2.CHANNEL_EMAIL,
        purpose="newsletter",
        scope=consent_pb2.Scope(component_id=COMPONENT),
        source="web-form",
        text_shown="Je souhaite recevoir la lettre.",
        how=how,
        pending=pending,
    )
    return consent.Grant(change, metadata=_as(mesh.keys.manager(COMPONENT)), timeout=TIMEOUT)  # type: ignore[no-any-return]


def _check(mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, contact_id: str) -> str:
    request = consent_pb2.CheckBatchRequest(
        component_id=COMPONENT,
        channel=consent_pb2.CHANNEL_EMAIL,
        purpose="newsletter",
        contact_ids=[contact_id],
    )
    reply = consent.CheckBatch(request, metadata=_as(mesh.keys.service()), timeout=TIMEOUT)
    return consent_pb2.Decision.Name(reply.results[0].decision)


def _wait_mail(mesh: Mesh, address: str, count: int = 1, timeout: float = 30) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mesh.inbox.to(address)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{len(mesh.inbox.to(address))} mail(s) reached the sink, not {count}")


RECEIPT_LINK = re.compile(r"/consent/receipts/[A-Za-z0-9_.\-]+")


def _link(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found, "the mail carries its signed link"
    return found.group(0)


def _press(mesh: Mesh, url: str) -> int:
    path = url.removeprefix(mesh.gateway_url)
    reply = mesh.api.call(
        "POST", path, raw=b"confirm=yes", content_type="application/x-www-form-urlencoded"
    )
    return reply.status


def _events(db: Database, contact_id: str) -> list[tuple[str, str | None]]:
    with db.transaction() as session:
        return [(e.kind.value, e.refers_to) for e in repository.history(session, [contact_id])]


# --- Double opt-in --------------------------------------------------------------------------


def test_a_pending_grant_sends_one_confirmation_whose_link_makes_the_check_allow(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, db: Database
) -> None:
    contact_id, address = _new_contact(mesh)
    grant = _grant(mesh, consent, contact_id, pending=True)
    assert _check(mesh, consent, contact_id) == "DECISION_PENDING"

    (mail,) = _wait_mail(mesh, address)
    assert "Confirm" in str(mail["Subject"]) and "Confirmez" in str(mail["Subject"])
    url = _link(mail)
    assert "/consent/confirm/" in url and contact_id not in url and address not in url

    page = mesh.api.call("GET", url.removeprefix(mesh.gateway_url))
    assert page.status == 200 and "<form" in page.text
    assert _check(mesh, consent, contact_id) == "DECISION_PENDING"  # a GET changes nothing

    done = mesh.api.call(
        "POST",
        url.removeprefix(mesh.gateway_url),
        raw=b"confirm=yes",
        content_type="application/x-www-form-urlencoded",
    )
    assert done.status == 200
    assert _press(mesh, url) == 200  # twice: one confirmation
    assert _check(mesh, consent, contact_id) == "DECISION_CONSENT_GIVEN"
    # The page of the confirmation links to the person's own receipt of that grant.
    receipt_path = RECEIPT_LINK.search(done.text)
    assert receipt_path, done.text
    receipt = mesh.api.call("GET", receipt_path.group(0))
    assert receipt.status == 200, receipt.text
    document = receipt.json["receipt"]
    assert document["piiPrincipalId"] == contact_id
    keys = mesh.api.call("GET", "/consent/receipt-keys").json
    key = jwt.PyJWK(keys["keys"][0])
    signed = jwt.api_jws.decode_complete(receipt.json["jws"], key.key, algorithms=["ES256"])
    assert json.loads(signed["payload"]) == document
    assert _events(db, contact_id) == [("granted", None), ("confirmed", grant.id)]
    time.sleep(2)  # a few outbox passes later: still one mail
    assert len(mesh.inbox.to(address)) == 1


def test_a_component_asks_for_double_opt_in_through_the_gateway(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub
) -> None:
    # A faculty's sign-up form posts the grant with `pending`: nothing is allowed until
    # the person confirms from the mail consent sends them.
    contact_id, address = _new_contact(mesh)
    body = {
        "channel": "email",
        "purpose": "newsletter",
        "scope": "component",
        "source": "inscription page",
        "text_shown": "Je souhaite recevoir la lettre.",
        "pending": True,
    }
    path = f"/v1/contacts/{contact_id}/consents"
    granted = mesh.api.call("POST", path, mesh.keys.manager(COMPONENT), body)
    assert granted.status == 201, granted.text
    assert granted.json["pending"] is True
    assert _check(mesh, consent, contact_id) == "DECISION_PENDING"
    (mail,) = _wait_mail(mesh, address)
    assert _press(mesh, _link(mail)) == 200
    assert _check(mesh, consent, contact_id) == "DECISION_CONSENT_GIVEN"


def test_a_forged_altered_or_expired_link_is_refused_and_writes_nothing(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, db: Database
) -> None:
    contact_id, _address = _new_contact(mesh)
    grant = _grant(mesh, consent, contact_id, pending=True)
    genuine = PersonLinks(UNSUBSCRIBE_SECRET).sign(LinkKind.CONFIRM, contact_id, grant.id)
    forged = PersonLinks("not-the-secret").sign(LinkKind.CONFIRM, contact_id, grant.id)
    old = datetime.now(UTC) - timedelta(days=8)
    expired = PersonLinks(UNSUBSCRIBE_SECRET, clock=lambda: old).sign(
        LinkKind.CONFIRM, contact_id, grant.id
    )
    other_kind = PersonLinks(UNSUBSCRIBE_SECRET).sign(LinkKind.REVALIDATE, contact_id, grant.id)
    base = f"{mesh.gateway_url}/consent/confirm/"
    assert _press(mesh, base + forged) == 404
    assert _press(mesh, base + genuine[:-2] + "xx") == 404
    assert _press(mesh, base + other_kind) == 404
    reply = mesh.api.call("GET", f"/consent/confirm/{expired}")
    assert reply.status == 410 and "expir" in reply.text
    assert _press(mesh, base + expired) == 410
    assert _check(mesh, consent, contact_id) == "DECISION_PENDING"
    assert _events(db, contact_id) == [("granted", None)]


# --- Retention: revalidation and lapse, with a moved clock ---------------------------------


def _delivery(mesh: Mesh, campaigns_target: str) -> tuple[outbox_job.Delivery, Callable[[], None]]:
    """What the consent process wires, pointed at `campaigns_target`, as consent itself."""
    token = lambda: mesh.keys.service("consent")  # noqa: E731
    campaigns = open_channel(campaigns_target, token, 5.0)
    contacts = open_channel(mesh.targets["contacts"], token, 5.0)
    delivery = outbox_job.Delivery(
        mailer=GrpcMailer(campaigns),
        contacts=GrpcContactsPrivacy(contacts),
        directory=GrpcContacts(contacts),
        links=PersonLinks(UNSUBSCRIBE_SECRET),  # signed now: the gateway checks the real clock
        public_base_url=mesh.gateway_url,
        suppression_secret=b"",
        backoff=Backoff(timedelta(seconds=30), timedelta(minutes=10)),
    )

    def close() -> None:
        campaigns.close()
        contacts.close()

    return delivery, close


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def test_at_35_months_one_revalidation_mail_and_at_36_unanswered_a_lapse(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, db: Database
) -> None:
    contact_id, address = _new_contact(mesh)
    grant = _grant(mesh, consent, contact_id, pending=False)
    granted_at = datetime.now(UTC)
    month_35 = retention.add_months(granted_at, 35) + timedelta(days=1)
    month_36 = retention.add_months(granted_at, 36) + timedelta(days=1)
    live, close_live = _delivery(mesh, mesh.targets["campaigns"])
    away, close_away = _delivery(mesh, f"127.0.0.1:{free_port()}")  # campaigns down
    try:
        first = outbox_job.run_retention(db, _at(month_35), "replica-1")
        again = outbox_job.run_retention(db, _at(month_35 + timedelta(days=1)), "replica-2")
        assert first.revalidations >= 1 and again.revalidations == 0
        assert _outbox(db, contact_id) == [("consent_revalidation", None, 0)]

        # Campaigns away: nothing leaves, the entry waits and is tried again later.
        outbox_job.deliver_due(db, away, _at(month_35))
        assert _outbox(db, contact_id) == [("consent_revalidation", "unavailable", 1)]
        outbox_job.deliver_due(db, live, _at(month_35))  # too early: backoff
        assert mesh.inbox.to(address) == []
        later = month_35 + timedelta(minutes=1)
        outbox_job.deliver_due(db, live, _at(later))
        outbox_job.deliver_due(db, live, _at(later + timedelta(hours=1)))
        (mail,) = _wait_mail(mesh, address)
        assert _outbox(db, contact_id) == [("consent_revalidation", "sent", 2)]
        assert "/consent/revalidate/" in _link(mail)

        assert _check(mesh, consent, contact_id) == "DECISION_CONSENT_GIVEN"
        # Two replicas at 36 months, at once: one expiry.
        runs = [
            threading.Thread(target=outbox_job.run_retention, args=(db, _at(month_36), f"r{i}"))
            for i in range(2)
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        outbox_job.run_retention(db, _at(month_36), "r3")
        assert _events(db, contact_id) == [("granted", None), ("expired", grant.id)]
        assert _check(mesh, consent, contact_id) == "DECISION_EXPIRED"
        time.sleep(1)
        assert len(mesh.inbox.to(address)) == 1  # exactly one revalidation mail
    finally:
        close_live()
        close_away()


def test_a_renewed_consent_does_not_lapse_and_the_link_renews_through_the_gateway(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, db: Database
) -> None:
    contact_id, address = _new_contact(mesh)
    grant = _grant(mesh, consent, contact_id, pending=False)
    granted_at = datetime.now(UTC)
    month_35 = retention.add_months(granted_at, 35) + timedelta(days=1)
    month_36 = retention.add_months(granted_at, 36) + timedelta(days=1)
    live, close_live = _delivery(mesh, mesh.targets["campaigns"])
    try:
        outbox_job.run_retention(db, _at(month_35), "replica-1")
        outbox_job.deliver_due(db, live, _at(month_35))
        url = _link(_wait_mail(mesh, address)[0])
    finally:
        close_live()
    # The person answers at 35 months (recorded in process, at the moved time).
    renewal = RevalidateRequest(grant.id, CollectionRequest(None, "test", "", ""))
    service.revalidate(db, SERVICE, renewal, _at(month_35))
    outbox_job.run_retention(db, _at(month_36), "replica-1")
    # Other tests' consents may lapse in this shared database; this one must not.
    assert ("expired", grant.id) not in _events(db, contact_id)
    assert _check(mesh, consent, contact_id) == "DECISION_CONSENT_GIVEN"
    # Pressing the mail's button too records nothing more: one renewal per cycle.
    assert _press(mesh, url) == 200
    assert _events(db, contact_id) == [("granted", None), ("revalidated", grant.id)]


def test_the_revalidation_link_renews_the_cycle_through_the_gateway(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, db: Database
) -> None:
    contact_id, _address = _new_contact(mesh)
    grant = _grant(mesh, consent, contact_id, pending=False)
    token = PersonLinks(UNSUBSCRIBE_SECRET).sign(LinkKind.REVALIDATE, contact_id, grant.id)
    assert _press(mesh, f"{mesh.gateway_url}/consent/revalidate/{token}") == 200
    with db.transaction() as session:
        (event,) = [
            e for e in repository.history(session, [contact_id]) if e.kind is EventKind.REVALIDATED
        ]
    assert (event.refers_to, event.how.value, event.ip) == (grant.id, "web_form", "127.0.0.1")


def _outbox(db: Database, contact_id: str) -> list[tuple[str, str | None, int]]:
    with db.transaction() as session:
        return [
            (row.kind, row.last_outcome, row.attempts)
            for row in repository.outbox_entries(session, contact_id)
        ]


# --- Objection -> suppression --------------------------------------------------------------


def test_an_objection_lists_the_addresses_and_a_later_own_grant_lifts_them(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, db: Database
) -> None:
    contact_id, address = _new_contact(mesh)
    objection = consent_pb2.ObjectionRequest(
        contact_id=contact_id, how=consent_pb2.HOW_PREFERENCE_PAGE, source="preference-page"
    )
    consent.Object(objection, metadata=_as(mesh.keys.service("gateway")), timeout=TIMEOUT)
    _wait_suppressed(mesh, consent, address, True)
    # Staff granting again on their own word does not lift the person's objection.
    _grant(mesh, consent, contact_id, pending=False, how=consent_pb2.HOW_STAFF)
    time.sleep(1.5)
    assert _suppressed(mesh, consent, address)
    # The person's own yes (a confirmed double opt-in) does.
    pending = _grant(mesh, consent, contact_id, pending=True)
    confirm = consent_pb2.ConfirmRequest(
        grant_event_id=pending.id, how=consent_pb2.HOW_WEB_FORM, source="test", ip="127.0.0.1"
    )
    consent.Confirm(confirm, metadata=_as(mesh.keys.service("gateway")), timeout=TIMEOUT)
    _wait_suppressed(mesh, consent, address, False)


def _suppressed(mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, address: str) -> bool:
    request = consent_pb2.FilterSuppressedRequest(addresses=[address])
    reply = consent.FilterSuppressed(request, metadata=_as(mesh.keys.service()), timeout=TIMEOUT)
    return list(reply.suppressed_indexes) == [0]


def _wait_suppressed(
    mesh: Mesh, consent: consent_pb2_grpc.ConsentServiceStub, address: str, expected: bool
) -> None:
    deadline = time.monotonic() + 30
    while _suppressed(mesh, consent, address) != expected:
        assert time.monotonic() < deadline, f"suppressed is still {not expected}"
        time.sleep(0.1)


def test_no_event_is_ever_left_half_written(db: Database) -> None:
    """Every outbox entry names an event that exists (written in one transaction)."""
    with db.transaction() as session:
        refs = session.scalars(select(OutboxRow.link_ref).where(OutboxRow.link_ref != "")).all()
        found = session.scalar(
            select(func.count()).select_from(ConsentEventRow).where(ConsentEventRow.id.in_(refs))
        )
    assert found == len(set(refs))
