"""The inbound SMTP endpoint of `List-Unsubscribe: <mailto:...?subject=unsubscribe-TOKEN>`.

Run by the consent process beside its gRPC server (aiosmtpd, in a thread of its
own). It takes mail for the one configured unsubscribe address only, refuses
anything larger than the configured size, reads the signed token from the
Subject, and records a withdrawal of the token's purpose for the whole grouping
as the person's own act (`proofs.withdraw_by_mail`, source "inbound-mail"),
before answering 250: when the reply is 250, the withdrawal is recorded.

A token that is missing, forged or altered gets `550` and nothing is written.
Answering 250 would tell a person whose mail client mangled the subject that
they were unsubscribed when they were not; a 550 bounces back to them instead.
The token names no address, so the refusal reveals nothing. When the withdrawal
cannot be recorded yet (contacts or the database unreachable) the answer is
`451`, and the sending relay retries later, as SMTP relays do.

aiosmtpd logs every sender and command line at INFO: the person's address would
reach the log, so its logger is held at WARNING in this process.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller

from meshkit.errors import DomainError, NotFound
from meshkit.grpc_server import address_in_use
from meshkit.unsubscribe import UnsubscribeRequest, UnsubscribeTokens

log = logging.getLogger(__name__)

TOKEN = re.compile(r"unsubscribe-([A-Za-z0-9_.=-]+)", re.IGNORECASE)

RECORDED = "250 2.0.0 Unsubscribed: nothing more will be sent for this purpose"
UNKNOWN_MAILBOX = "550 5.1.1 This server takes unsubscribe requests only"
NO_TOKEN = "550 5.7.1 No unsubscribe token in the subject: nothing was changed"
BAD_TOKEN = "550 5.7.1 Unknown or altered unsubscribe token: nothing was changed"
TRY_LATER = "451 4.3.0 The unsubscription could not be recorded yet; try again later"

Withdraw = Callable[[UnsubscribeRequest], object]


def token_in(subject: str) -> str | None:
    """The token of a subject such as `unsubscribe-TOKEN` (a `Re:` or folding allowed)."""
    found = TOKEN.search(re.sub(r"\s+", "", subject))
    return found.group(1) if found else None


class UnsubscribeMailHandler:
    """aiosmtpd handler: one recipient accepted, one withdrawal per valid token."""

    def __init__(self, address: str, tokens: UnsubscribeTokens, withdraw: Withdraw):
        self._address = address.strip().lower()
        self._tokens = tokens
        self._withdraw = withdraw

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.strip().lower() != self._address:
            return UNKNOWN_MAILBOX
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        token = token_in(str(message.get("Subject", "")))
        if token is None:
            return NO_TOKEN
        try:
            link = self._tokens.verify(token)
        except NotFound:
            log.info("unsubscribe mail refused: altered or unknown token")
            return BAD_TOKEN
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._withdraw, link)
        except NotFound:
            # The contact is gone (erased): nothing will be sent to it anyway.
            log.info("unsubscribe mail for a contact that no longer exists")
            return RECORDED
        except DomainError as error:
            log.warning("unsubscribe mail not recorded yet: %s", type(error).__name__)
            return TRY_LATER
        except Exception:
            log.exception("unsubscribe mail not recorded")
            return TRY_LATER
        log.info("unsubscribe mail recorded a withdrawal (purpose %s)", link.purpose)
        return RECORDED


class Endpoint:
    """The endpoint on `listen` (host:port), run in a thread of its own by aiosmtpd."""

    def __init__(self, listen: str, handler: UnsubscribeMailHandler, max_bytes: int):
        host, _, port = listen.rpartition(":")
        self.listen = listen
        self._controller = Controller(
            handler,
            hostname=host.strip("[]") or "127.0.0.1",
            port=int(port),
            data_size_limit=max_bytes,  # larger mail is refused with 552
            server_hostname="crm-consent",
        )
        self._running = False

    def start(self) -> None:
        """Listens; a port already taken ends the process with one line (exit 1)."""
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # it would log senders
        why = address_in_use(self.listen)
        if why is not None:
            log.error("cannot listen for unsubscribe mail on %s: %s", self.listen, why)
            raise SystemExit(1)
        self._controller.start()
        self._running = True
        log.info("unsubscribe mail endpoint listening on %s", self.listen)

    def stop(self) -> None:
        """Stops taking mail (a message being handled is cut short: its sender retries)."""
        if self._running:
            self._running = False
            self._controller.stop()
