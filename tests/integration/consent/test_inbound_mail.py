"""A mail to the mailto: of List-Unsubscribe withdraws the consent; a forged token does not.

A real `crm serve consent` process with its inbound SMTP endpoint, asking a real
contacts process; the mail is sent with smtplib, as a person's mail client would.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage

import grpc
import pytest
from sqlalchemy import create_engine

from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens
from protos.crm.consent.v1 import consent_pb2 as pb
from protos.crm.consent.v1 import consent_pb2_grpc
from tests.integration.consent.harness import (
    OWNER,
    RunningConsent,
    RunningContacts,
    change,
    check,
    component,
    grant,
    history,
    serve,
)
from tests.support.processes import free_port
from tests.support.tokens import TestKeys

SECRET = "inbound-test-unsubscribe-secret"
MAILBOX = "unsubscribe@crm.test"
MAX_BYTES = 4096


@pytest.fixture(scope="module")
def inbound(
    keys: TestKeys, contacts: RunningContacts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningConsent, int]]:
    folder = tmp_path_factory.mktemp("consent-inbound")
    port = free_port()
    settings = {
        "contacts_target": contacts.target,
        "inbound_listen": f"127.0.0.1:{port}",
        "inbound_address": MAILBOX,
        "inbound_max_bytes": str(MAX_BYTES),
        "unsubscribe_secret": SECRET,
    }
    with serve("consent", keys, folder, **settings) as (target, url):
        engine = create_engine(url)
        try:
            with grpc.insecure_channel(target) as channel:
                stub = consent_pb2_grpc.ConsentServiceStub(channel)
                log = folder / "logs" / "consent.log"
                yield RunningConsent(target, stub, channel, keys, engine, log, contacts), port
        finally:
            engine.dispose()


def _mail(token: str, to: str = MAILBOX, body: str = "unsubscribe") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Marie Dupont <marie.dupont@example.org>"
    message["To"] = to
    message["Subject"] = f"unsubscribe-{token}"
    message.set_content(body)
    return message


def _send(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
        smtp.send_message(message)


def _granted_contact(consent: RunningConsent) -> str:
    contact_id = consent.new_contact()
    grant(consent, consent.keys.manager(OWNER), change(contact_id, component(OWNER)))
    assert check(consent, OWNER, contact_id)[0].allowed
    return contact_id


def _withdrawals(consent: RunningConsent, contact_id: str) -> list[pb.ConsentEvent]:
    events = history(consent, consent.keys.admin(), contact_id)
    return [e for e in events if e.action == pb.ACTION_WITHDRAW]


def _poll_withdrawals(consent: RunningConsent, contact_id: str) -> list[pb.ConsentEvent]:
    deadline = time.monotonic() + 10
    while not (found := _withdrawals(consent, contact_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_a_mail_with_the_token_withdraws_the_purpose_for_the_whole_grouping(
    inbound: tuple[RunningConsent, int],
) -> None:
    consent, port = inbound
    contact_id = _granted_contact(consent)
    token = UnsubscribeTokens(SECRET).sign(UnsubscribeRequest(contact_id, "newsletter", "c-1"))
    _send(port, _mail(token))
    (withdrawal,) = _poll_withdrawals(consent, contact_id)
    assert withdrawal.source == "inbound-mail"
    assert withdrawal.scope.grouping and withdrawal.purpose == "newsletter"
    verdict = check(consent, OWNER, contact_id)[0]
    assert not verdict.allowed and verdict.decision == pb.DECISION_WITHDRAWN
    assert "marie.dupont" not in consent.log.read_text()  # the sender is never logged
    # The same mail again (a client that retried) records nothing more.
    _send(port, _mail(f"{token} "))
    assert len(_withdrawals(consent, contact_id)) == 1


def test_a_reply_keeps_working_with_re_in_the_subject(inbound: tuple[RunningConsent, int]) -> None:
    consent, port = inbound
    contact_id = _granted_contact(consent)
    token = UnsubscribeTokens(SECRET).sign(UnsubscribeRequest(contact_id, "newsletter", "c-2"))
    message = _mail(token)
    message.replace_header("Subject", f"Re: unsubscribe-{token}")
    _send(port, message)
    assert len(_poll_withdrawals(consent, contact_id)) == 1


@pytest.mark.parametrize("forgery", ["altered", "other-secret", "no-token"])
def test_a_forged_or_missing_token_is_refused_and_writes_nothing(
    inbound: tuple[RunningConsent, int], forgery: str
) -> None:
    consent, port = inbound
    contact_id = _granted_contact(consent)
    link = UnsubscribeRequest(contact_id, "newsletter", "c-3")
    token = UnsubscribeTokens(SECRET).sign(link)
    forged = {
        "altered": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        "other-secret": UnsubscribeTokens("not-the-secret").sign(link),
        "no-token": "",
    }[forgery]
    before = consent.rows()
    message = _mail(forged)
    if forgery == "no-token":
        message.replace_header("Subject", "please stop")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(port, message)
    assert refused.value.smtp_code == 550
    assert consent.rows() == before
    assert check(consent, OWNER, contact_id)[0].allowed


def test_mail_for_another_recipient_or_too_large_is_refused(
    inbound: tuple[RunningConsent, int],
) -> None:
    consent, port = inbound
    contact_id = _granted_contact(consent)
    token = UnsubscribeTokens(SECRET).sign(UnsubscribeRequest(contact_id, "newsletter", "c-4"))
    before = consent.rows()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(port, _mail(token, to="someone-else@crm.test"))
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as too_large:
        _send(port, _mail(token, body="x" * (2 * MAX_BYTES)))
    assert too_large.value.smtp_code == 552
    assert consent.rows() == before
