"""The real contacts and consent services for campaigns tests, a log of calls, an SMTP sink.

Contacts and consent run as separate processes (`crm serve contacts`, `crm serve
consent`), each on a fresh PostgreSQL database, and are filled through their own
APIs with real tokens. A CallLog sits on the channels a campaigns instance calls
them through, so tests can check that checks are batched (one call per batch)
and made under the service identity. Only the SMTP relay's far side is played by
the test (aiosmtpd): it is outside the product.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import grpc
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.dialects import postgresql

from meshkit.grpc_client import open_channel
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.contacts.models import AttributeDefinitionRow, FieldPolicyRow
from services.contacts.policy import OWNER_ONLY, Grant
from services.contacts.repository import stored_grants
from tests.support.processes import free_port, service_process, wait_grpc_healthy
from tests.support.stores import REDIS_URL, fresh_postgres
from tests.support.tokens import TestKeys

TIMEOUT = 10
PURPOSE = "newsletter"


@dataclass
class Peers:
    """Running contacts and consent processes, and stubs that fill them as real callers do."""

    contacts_target: str
    consent_target: str
    keys: TestKeys
    contacts: contacts_pb2_grpc.ContactsServiceStub
    consent: consent_pb2_grpc.ConsentServiceStub
    logs: Path
    contacts_db: Engine

    def add_component(self, component_id: str) -> None:
        """Registers a component, as an administrator."""
        request = contacts_pb2.CreateComponentRequest(id=component_id, name=component_id.title())
        self.contacts.CreateComponent(
            request, metadata=self._as(self.keys.admin()), timeout=TIMEOUT
        )

    def new_contact(
        self,
        component: str,
        *,
        email: str,
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
        fields: Mapping[str, str] | None = None,
    ) -> str:
        """Creates a person as an editor of `component`; returns the id contacts gave it.

        `fields` adds values by field id, e.g. {"sciences.budget": "12"} (declare
        the attribute first with define_attribute).
        """
        values = {"email": email, "first_name": first_name, "last_name": last_name}
        reply = self._create(component, {**values, "phone": phone, **(fields or {})})
        assert not reply.joined_existing, "tests use a fresh email for each new contact"
        return str(reply.contact.id)

    def join(self, component: str, email: str, fields: Mapping[str, str] | None = None) -> str:
        """Makes `component` a member of the contact with this email, as its editor does."""
        reply = self._create(component, {"email": email, **(fields or {})})
        assert reply.joined_existing
        return str(reply.contact.id)

    def define_attribute(self, component: str, key: str, type: str = "text") -> str:
        """Declares a component's attribute, as an administrator would; its field id.

        Written straight into the contacts database: DefineAttribute is not
        served yet on this branch.
        """
        with self.contacts_db.begin() as connection:
            connection.execute(
                postgresql.insert(AttributeDefinitionRow.__table__)
                .values(component_id=component, key=key, type=type, choices=[])
                .on_conflict_do_nothing()
            )
        return f"{component}.{key}"

    def set_policy(self, field: str, read: Sequence[Grant], write: Sequence[Grant] = ()) -> None:
        """Replaces the policy of one field, as an administrator would.

        Written straight into the contacts database: SetFieldPolicy is not
        served yet on this branch. Policies are read fresh on each request.
        """
        values = {
            "field": field,
            "read": stored_grants(read),
            "write": stored_grants(write or OWNER_ONLY),
            "updated_by": "admin@grouping",
        }
        statement = postgresql.insert(FieldPolicyRow.__table__).values(**values)
        with self.contacts_db.begin() as connection:
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["field"],
                    set_={k: statement.excluded[k] for k in ("read", "write", "updated_by")},
                )
            )

    def count_sensitive_reads(self) -> int:
        """Rows of the contacts audit trail of protected reads."""
        with self.contacts_db.connect() as connection:
            return int(
                connection.execute(text("SELECT count(*) FROM sensitive_reads")).scalar_one()
            )

    def new_contacts(self, component: str, emails: Sequence[str]) -> list[str]:
        """Creates many persons at once (concurrent calls), in the order of `emails`."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(lambda e: self.new_contact(component, email=e), emails))

    def grant(self, contact_id: str, component: str) -> None:
        """Records an email newsletter consent for `component`, as its manager."""
        self.consent.Grant(
            _change(contact_id, component),
            metadata=self._as(self.keys.manager(component)),
            timeout=TIMEOUT,
        )

    def grant_all(self, contact_ids: Sequence[str], component: str) -> None:
        """Grants each contact's consent for `component` (concurrent calls)."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda contact_id: self.grant(contact_id, component), contact_ids))

    def withdraw(self, contact_id: str, component: str) -> None:
        """Records the withdrawal of that consent, as the component's manager."""
        self.consent.Withdraw(
            _change(contact_id, component),
            metadata=self._as(self.keys.manager(component)),
            timeout=TIMEOUT,
        )

    def _create(
        self, component: str, fields: Mapping[str, str]
    ) -> contacts_pb2.CreateContactResponse:
        request = contacts_pb2.CreateContactRequest(
            kind=contacts_pb2.CONTACT_KIND_PERSON,
            fields={name: value for name, value in fields.items() if value},
        )
        token = self.keys.issuer.mint(
            f"manager@{component}",
            component=component,
            roles=["campaign_manager", "contact_editor"],
        )
        return self.contacts.CreateContact(request, metadata=self._as(token), timeout=TIMEOUT)  # type: ignore[no-any-return]

    @staticmethod
    def _as(token: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {token}")]


def _change(contact_id: str, component: str) -> consent_pb2.ConsentChange:
    return consent_pb2.ConsentChange(
        contact_id=contact_id,
        channel=consent_pb2.CHANNEL_EMAIL,
        purpose=PURPOSE,
        scope=consent_pb2.Scope(component_id=component),
        source="web-form",
        text_shown="I agree to receive the newsletter.",
    )


@contextmanager
def serve_peers(keys: TestKeys, folder: Path) -> Iterator[Peers]:
    """`crm serve contacts` and `crm serve consent`, each on a fresh PostgreSQL database."""
    logs = folder / "logs"
    targets = {name: f"127.0.0.1:{free_port()}" for name in ("contacts", "consent")}
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for name, target in targets.items():
            prefix = f"{name.upper()}_"
            urls[name] = stack.enter_context(fresh_postgres(name))
            env = {
                **keys.env(prefix),
                f"{prefix}LISTEN": target,
                f"{prefix}DATABASE_URL": urls[name],
                "CRM_HOME": str(folder / "home"),
                "CONSENT_CONTACTS_TARGET": targets["contacts"],
            }
            stack.enter_context(service_process(name, env, logs))
        for name, target in targets.items():
            try:
                wait_grpc_healthy(target)
            except TimeoutError:
                raise AssertionError((logs / f"{name}.log").read_text()) from None
        contacts_channel = stack.enter_context(grpc.insecure_channel(targets["contacts"]))
        consent_channel = stack.enter_context(grpc.insecure_channel(targets["consent"]))
        contacts_db = create_engine(urls["contacts"])
        stack.callback(contacts_db.dispose)
        yield Peers(
            targets["contacts"],
            targets["consent"],
            keys,
            contacts_pb2_grpc.ContactsServiceStub(contacts_channel),
            consent_pb2_grpc.ConsentServiceStub(consent_channel),
            logs,
            contacts_db,
        )


@dataclass
class Call:
    """One call that left a channel: its method, its request, the bearer it carried."""

    method: str
    request: Any
    authorization: str = ""


class CallLog(grpc.UnaryUnaryClientInterceptor):
    """Notes every unary call on a channel, with the authorization metadata it carries.

    It sits outside open_channel's own interceptor, which adds the bearer token
    below it; so the token is noted where that interceptor takes it (observing()),
    on the call being made in the same thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = threading.local()
        self.calls: list[Call] = []

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        call = Call(details.method.rsplit("/", 1)[-1], request)
        with self._lock:
            self.calls.append(call)
        self._current.call = call
        try:
            return continuation(details, request)
        finally:
            self._current.call = None

    def observing(self, token: Callable[[], str]) -> Callable[[], str]:
        """`token`, noting each value it gives as the current call's authorization."""

        def noted() -> str:
            value = token()
            call = getattr(self._current, "call", None)
            if call is not None:
                call.authorization = f"Bearer {value}"
            return value

        return noted

    def mark(self) -> int:
        """A position in the log; since() lists the calls made after it."""
        with self._lock:
            return len(self.calls)

    def since(self, mark: int, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls[mark:] if c.method == method]

    def named(self, method: str) -> list[Call]:
        return self.since(0, method)


def logged_channel(
    target: str, token: Callable[[], str], timeout_seconds: float, log: CallLog
) -> grpc.Channel:
    """The channel campaigns opens itself (open_channel), with every call noted in `log`."""
    return grpc.intercept_channel(open_channel(target, log.observing(token), timeout_seconds), log)


class Sink:
    """aiosmtpd handler: keeps accepted mail; refuses recipients listed in `refuse`.

    Faults a test sets for one recipient's next transaction only:
    `refuse_once` answers its next RCPT with the given reply; `after_data`
    decides what happens once the whole mail (end of DATA) is in: "stall"
    keeps the copy and answers 250 only after `stall_seconds`, "drop" keeps
    the copy and closes the connection without a reply, and an SMTP reply
    (e.g. "451 ...") refuses the mail with it, keeping no copy.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 no such user"
        self.refuse_once: dict[str, str] = {}
        self.after_data: dict[str, str] = {}
        self.stall_seconds = 3.0
        self.rcpts: Counter[str] = Counter()  # RCPT commands received per address
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.rcpts[address] += 1
            once = self.refuse_once.pop(address, None)
        if once:
            return once
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            faults = [self.after_data.pop(r, "") for r in envelope.rcpt_tos]
        fault = next((f for f in faults if f), "")
        if fault[:1] in ("4", "5"):
            return fault  # refused: the relay keeps nothing
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        if fault == "stall":
            await asyncio.sleep(self.stall_seconds)
        elif fault == "drop":
            server.transport.abort()  # the mail is in, the reply never leaves
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    """A real SMTP server (aiosmtpd) on a free port."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@contextmanager
def campaigns_process(
    workdir: Path, keys: TestKeys, pg_url: str, peers: Peers, redis_prefix: str, **settings: str
) -> Iterator[tuple[grpc.Channel, Sink, Path]]:
    """`crm serve campaigns` against the peers, mailing to a real SMTP sink.

    `settings` are extra CAMPAIGNS_* values, named without the prefix
    (e.g. `PRESSURE_MAX_PER_WINDOW="2"`). Yields its channel, the sink and its log.
    """
    port = free_port()
    with smtp_sink() as (sink, smtp_port):
        env = {
            "CRM_HOME": str(workdir / "home"),
            **keys.env("CAMPAIGNS_"),
            "CAMPAIGNS_LISTEN": f"127.0.0.1:{port}",
            "CAMPAIGNS_DATABASE_URL": pg_url,
            "CAMPAIGNS_CONTACTS_TARGET": peers.contacts_target,
            "CAMPAIGNS_CONSENT_TARGET": peers.consent_target,
            "CAMPAIGNS_REDIS_URL": REDIS_URL,
            "CAMPAIGNS_REDIS_KEY_PREFIX": redis_prefix,
            "CAMPAIGNS_SMTP_PORT": str(smtp_port),
            "CAMPAIGNS_UNSUBSCRIBE_SECRET": f"{workdir.name}-secret",
            "CAMPAIGNS_POLL_SECONDS": "0.05",
            **{f"CAMPAIGNS_{name}": value for name, value in settings.items()},
        }
        with service_process("campaigns", env, workdir / "logs"):
            wait_grpc_healthy(f"127.0.0.1:{port}")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield channel, sink, workdir / "logs" / "campaigns.log"
