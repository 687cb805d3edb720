"""The transactional class: a mail a person needs whatever their consent, sent at once.

Only the consent service (confirmations and revalidations of consents) and the
roles CAMPAIGNS_TRANSACTIONAL_ROLES names may send one (policy.py). It asks
no consent (the mail is about consent itself, so it must reach a person who has
none yet) and never touches the marketing-pressure budget. It still goes
through the ledger, like every mail, with the same guarantees:

- one row per idempotency key (unique in the database): a repeat returns the
  first outcome and never sends again;
- the row is marked in flight (committed) before SMTP, and closed right after:
  `sent`, `unconfirmed` (reply lost after the end of DATA: never sent again),
  `smtp_failed`; a relay that is away leaves the row pending, and the caller
  repeats with the same key (UNAVAILABLE): nothing is lost, nothing doubled;
- the address comes from contacts (ResolveRecipients, as the component sees
  the contact), so an erased or unknown contact is `not_member`; or from `to`,
  which only a service may give.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, replace

from meshkit.addresses import is_valid_address
from meshkit.errors import (
    DomainError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from meshkit.identity import Principal
from meshkit.roles import Role
from meshkit.unsubscribe import UnsubscribeRequest
from services.campaigns import metrics
from services.campaigns.clients import Directory
from services.campaigns.ledger import Ledger, TransactionalRow
from services.campaigns.message import MailFactory
from services.campaigns.policy import (
    RULE_ADDRESS,
    RULE_MEMBERSHIP,
    RULE_REPLY_LOST,
    RULE_TRANSACTIONAL,
    Outcome,
    Reachability,
    TransactionalKind,
    may_name_address,
    may_send_transactional,
    membership_outcome,
    smtp_rule,
)
from services.campaigns.smtp import PermanentFailure, ReplyLost, SmtpRelay, TemporaryFailure
from services.campaigns.validation import TransactionalMail, validated_transactional

log = logging.getLogger(__name__)

# Marks a transactional mail as automatic (RFC 3834): no auto-reply, no vacation notice.
AUTO_SUBMITTED = ("Auto-Submitted", "auto-generated")


@dataclass(frozen=True)
class TransactionalResult:
    row: TransactionalRow
    replayed: bool  # the key was known: this call sent nothing


class TransactionalMails:
    """The SendTransactional use case."""

    def __init__(
        self,
        ledger: Ledger,
        directory: Directory,
        relay: SmtpRelay,
        mails: MailFactory,
        allowed_roles: frozenset[str],
        lease_seconds: int,
    ):
        self._ledger = ledger
        self._directory = directory
        self._relay = relay
        self._mails = mails
        self._allowed_roles = allowed_roles
        self._lease = lease_seconds

    def send(self, principal: Principal, mail: TransactionalMail) -> TransactionalResult:
        """Sends the mail once per idempotency key; the outcome as the ledger records it."""
        if not may_send_transactional(principal.subject, principal.roles, self._allowed_roles):
            raise PermissionDenied(
                "transactional mail is reserved to the consent service and to the roles "
                "CAMPAIGNS_TRANSACTIONAL_ROLES names"
            )
        mail = validated_transactional(self._for_caller(principal, mail))
        return self._send(principal.subject, mail)

    def send_test(self, principal: Principal, mail: TransactionalMail) -> TransactionalResult:
        """A campaign manager's test send (CampaignsService.test_mail built it).

        It goes to the caller's own address (the token's email claim) only, so it
        needs the campaign_manager role rather than a transactional one.
        """
        principal.require_role(Role.CAMPAIGN_MANAGER)
        if mail.kind != TransactionalKind.TEST_SEND or not mail.to or mail.to != principal.email:
            raise PermissionDenied("a test send goes to the caller's own address only")
        return self._send(principal.subject, validated_transactional(mail))

    def _send(self, sender: str, mail: TransactionalMail) -> TransactionalResult:
        worker = f"tx:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        row, held = self._ledger.open_transactional(
            mail.idempotency_key,
            mail.contact_id,
            mail.kind,
            sender,
            worker,
            self._lease,
        )
        if not held:
            if (row.contact_id, row.kind, row.sender) != (mail.contact_id, mail.kind, sender):
                raise FailedPrecondition("idempotency_key: already used for another message")
            return TransactionalResult(row, replayed=True)
        self._deliver(worker, row.id, mail)
        return TransactionalResult(self._ledger.transactional(row.id), replayed=False)

    def _for_caller(self, principal: Principal, mail: TransactionalMail) -> TransactionalMail:
        if mail.to and not may_name_address(principal.roles):
            raise PermissionDenied("only a service of the mesh may give the address (`to`)")
        if principal.is_service:
            return mail
        # Staff send as their own component, and see the contact as it does.
        component = principal.require_component()
        if mail.component_id and mail.component_id != component:
            raise PermissionDenied("component_id: staff send for their own component only")
        return replace(mail, component_id=component)

    def _deliver(self, worker: str, row_id: int, mail: TransactionalMail) -> None:
        address = mail.to or self._resolve(worker, row_id, mail)
        if not address:
            return  # decided: not_member or no_email
        if not is_valid_address(address):
            self._ledger.decide(worker, [(row_id, Outcome.INVALID_ADDRESS, RULE_ADDRESS)])
            return
        message_id = self._mails.new_message_id()
        message = self._mails.build(
            to=address,
            subject=mail.subject,
            body=mail.text_body,
            html=mail.html_body,
            message_id=message_id,
            unsubscribe=(
                UnsubscribeRequest(mail.contact_id, mail.purpose, f"transactional:{row_id}")
                if mail.list_unsubscribe
                else None
            ),
            headers=dict((AUTO_SUBMITTED, *mail.headers)),
        )
        outgoing = self._mails.outgoing(message)  # serialised (and signed) before the mark
        if not self._ledger.mark_sending(worker, row_id, message_id, self._lease):
            log.warning("transactional %d: lost its claim before the send", row_id)
            return
        try:
            with self._relay.session() as smtp:
                smtp.send(outgoing)
        except PermanentFailure as failure:
            self._ledger.decide(worker, [(row_id, Outcome.SMTP_FAILED, smtp_rule(failure.code))])
        except TemporaryFailure as failure:
            # Nothing reached the relay: the row waits, free, for the caller's repeat.
            self._ledger.release(worker, [row_id], retry_after_seconds=0)
            log.warning("transactional %d: relay unavailable (code %s)", row_id, failure.code)
            raise Unavailable(
                "the SMTP relay is unavailable: nothing was sent; repeat with the same "
                "idempotency_key"
            ) from None
        except ReplyLost:
            log.warning("transactional %d: unconfirmed, reply lost", row_id)
            self._ledger.close_unconfirmed(worker, row_id, RULE_REPLY_LOST)
        else:
            metrics.SENDS.labels("transactional").inc()
            self._ledger.close_sent(worker, row_id, RULE_TRANSACTIONAL)

    def _resolve(self, worker: str, row_id: int, mail: TransactionalMail) -> str:
        """The address contacts gives the component, or "" once the row is decided."""
        try:
            (recipient,) = self._directory.resolve(
                mail.component_id, mail.purpose or mail.kind, [mail.contact_id]
            )
        except NotFound:  # no such component: it reaches nobody
            recipient = None
        except DomainError:
            self._ledger.release(worker, [row_id], retry_after_seconds=0)
            raise Unavailable(
                "contacts could not resolve the recipient: nothing was sent; repeat with the "
                "same idempotency_key"
            ) from None
        reachability = recipient.reachability if recipient else Reachability.NOT_MEMBER
        outcome = membership_outcome(reachability)
        if outcome is not None or recipient is None:
            self._ledger.decide(worker, [(row_id, outcome or Outcome.NOT_MEMBER, RULE_MEMBERSHIP)])
            return ""
        return recipient.email
