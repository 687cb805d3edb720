"""The send phase of campaigns on real stores and a real SMTP socket, the checks answered yes.

A Rig wires a Dispatcher as bootstrap does (Ledger on PostgreSQL, PressureCounters
on Redis, SmtpRelay, MailFactory) against a FaultRelay, with contacts and consent
replaced by stubs that let every recipient through: the tests using it are about
what happens after the gate (groups, retries, faults, connections). The ledger's
clock is a hand-moved one, so a retry's wait is read and skipped, never slept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from meshkit.db import Database
from meshkit.links import PersonLinks
from meshkit.unsubscribe import UnsubscribeTokens
from services.campaigns.clients import ConsentAnswer, Recipient
from services.campaigns.dispatch import Dispatcher, DispatchLimits
from services.campaigns.gate import Gate
from services.campaigns.ledger import Ledger, insert_pending
from services.campaigns.message import Letterhead, MailFactory
from services.campaigns.models import Campaign, Delivery
from services.campaigns.policy import ConsentDecision, Reachability
from services.campaigns.pressure import PressureCounters
from services.campaigns.pressure_policy import campaign_key, default_policy
from services.campaigns.signing import DkimSigner
from services.campaigns.smtp import SmtpRelay, SmtpSettings
from tests.support.fault_relay import FaultRelay

SECRET = "rig-unsubscribe-secret"
LETTERHEAD = Letterhead(
    "Communication <no-reply@univ.example>", "https://crm.univ.example", "unsub@univ.example"
)


class HandClock:
    """The ledger's clock: still unless a test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class YesDirectory:
    """Contacts answering that the component may reach each known contact at its address."""

    addresses: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def resolve(
        self, component: str, purpose: str, contact_ids: Sequence[str], fields: Sequence[str] = ()
    ) -> list[Recipient]:
        return [
            Recipient(
                c,
                Reachability.OK,
                self.addresses[c],
                {"first_name": self.names.get(c, "")} if "first_name" in fields else {},
            )
            for c in contact_ids
        ]

    def member_ids(self, component: str) -> Iterator[str]:
        return iter(self.addresses)


class YesConsent:
    def check(
        self, component: str, purpose: str, recipients: Sequence[Recipient]
    ) -> list[ConsentAnswer]:
        return [
            ConsentAnswer(r.contact_id, True, ConsentDecision.CONSENT_GIVEN) for r in recipients
        ]


@dataclass
class Rig:
    db: Database
    redis: Any
    prefix: str
    relay: FaultRelay
    clock: HandClock = field(default_factory=HandClock)
    directory: YesDirectory = field(default_factory=YesDirectory)
    pressure_max: int = 3
    signer: DkimSigner | None = None
    pools: list[SmtpRelay] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.db, self.clock)
        policy = default_policy(self.pressure_max, 3600)
        self.pressure = PressureCounters(
            self.redis, self.prefix, lambda: policy, self.ledger.recent_sends
        )
        self.mails = MailFactory(
            LETTERHEAD, UnsubscribeTokens(SECRET), PersonLinks(SECRET), self.signer
        )

    def dispatcher(
        self,
        ledger: Ledger | None = None,
        timeout_seconds: float = 1.0,
        pool_size: int = 1,
        **limits: Any,
    ) -> Dispatcher:
        """A dispatcher (its own connection pool) on this rig; `limits` override defaults."""
        ledger = ledger or self.ledger
        values: dict[str, Any] = {
            "batch_size": 50,
            "lease_seconds": 300,
            "retry_delay_seconds": 10,
            "group_size": 5,
            "max_attempts": 4,
            "retry_max_seconds": 3600,
            **limits,
        }
        smtp = SmtpRelay(
            SmtpSettings("127.0.0.1", self.relay.port, False, None, None, timeout_seconds),
            pool_size,
        )
        self.pools.append(smtp)
        gate = Gate(ledger, self.directory, YesConsent(), self.pressure)
        return Dispatcher(ledger, gate, smtp, self.mails, DispatchLimits(**values))

    def campaign(
        self, size: int, body: str = "Bonjour {{ first_name }},\nà bientôt.\n", **more: Any
    ) -> tuple[str, dict[str, str]]:
        """A running campaign to `size` new contacts; returns its id and {contact: address}."""
        campaign_id = str(uuid.uuid4())
        tag = uuid.uuid4().hex[:8]
        people = {f"c-{tag}-{i}": f"r{i}.{tag}@example.org" for i in range(size)}
        self.directory.addresses.update(people)
        self.directory.names.update({c: f"N{i}" for i, c in enumerate(people)})
        now = self.clock()
        with self.db.transaction() as session:
            session.add(
                Campaign(
                    id=campaign_id,
                    name="rig",
                    owner_component="sciences",
                    purpose="newsletter",
                    subject_template=more.get("subject", "Bonjour {{ first_name }}"),
                    body_template=body,
                    html_body_template=more.get("html", ""),
                    audience_kind="contact_ids",
                    audience_ids=list(people),
                    status="running",
                    created_by="rig",
                    created_at=now,
                    started_at=now,
                )
            )
            session.flush()
            insert_pending(session, campaign_id, list(people))
        return campaign_id, people

    def drain(self, dispatcher: Dispatcher, worker: str = "w1", rounds: int = 200) -> None:
        """Dispatches until nothing is claimable now."""
        for _ in range(rounds):
            if not dispatcher.run_once(worker):
                return
        raise AssertionError("dispatch never ran out of work")

    def rows(self, campaign_id: str) -> dict[str, Delivery]:
        with self.db.transaction() as session:
            found = session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id))
            return {row.contact_id: row for row in found}

    def set_status(self, campaign_id: str, status: str) -> None:
        with self.db.transaction() as session:
            session.get_one(Campaign, campaign_id).status = status

    def holds_slot(self, campaign_id: str, contact_id: str) -> bool:
        """Whether the contact's pressure slot for this campaign is taken in Redis."""
        return any(s.key == campaign_key(campaign_id) for s in self.pressure.slots([contact_id]))

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
