"""Dispatch end to end inside campaigns: PostgreSQL, Redis, a real SMTP server, and the real
contacts and consent services as separate processes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pytest
from sqlalchemy import select, update

from meshkit.db import make_engine
from meshkit.identity import Principal
from meshkit.links import LinkKind, PersonLinks
from meshkit.unsubscribe import UnsubscribeTokens
from protos.crm.consent.v1 import consent_pb2
from services.campaigns.bootstrap import Campaigns, build, connect_redis, migrate_schema
from services.campaigns.clients import GrpcConsentGate, GrpcDirectory, Recipient
from services.campaigns.models import Campaign, Delivery
from services.campaigns.settings import CampaignsSettings
from services.campaigns.validation import Audience, AudienceKind, Draft
from tests.integration.campaigns.conftest import delete_keys
from tests.integration.campaigns.peers import (
    CallLog,
    Peers,
    Sink,
    logged_channel,
    smtp_sink,
)
from tests.support.processes import free_port
from tests.support.stores import REDIS_URL, redis_prefix
from tests.support.tokens import TestKeys

SECRET = "test-unsubscribe-secret"
SCIENCES = Principal(
    "manager@sciences", component="sciences", roles=frozenset({"campaign_manager"})
)
# The world's campaigns reads a component's audience 1000 ids a page (AudienceIds).
LIST_PAGE = 1000

Consent = Literal["given", "none", "withdrawn"]


def manager(component: str) -> Principal:
    return Principal(
        f"manager@{component}", component=component, roles=frozenset({"campaign_manager"})
    )


@dataclass
class World:
    campaigns: Campaigns
    peers: Peers
    sink: Sink
    prefix: str
    redis: Any
    db_url: str
    keys: TestKeys
    smtp_port: int
    contacts_calls: CallLog
    consent_calls: CallLog
    addresses: dict[str, str] = field(default_factory=dict)
    legacy: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def another_worker(self, smtp_port: int | None = None, **more: Any) -> Campaigns:
        """A second campaigns instance on the same database, Redis and peers."""
        port = self.smtp_port if smtp_port is None else smtp_port
        settings = settings_for(self.db_url, self.keys, self.peers, port, self.prefix, **more)
        return build(settings, redis=self.redis)

    def person(
        self,
        *components: str,
        email: str | None = None,
        consent: Consent = "given",
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
    ) -> str:
        """A contact created in contacts by the first component, joined by the others.

        Its email newsletter consent for the first component is granted, never
        recorded, or granted then withdrawn, in consent.
        """
        self.counter += 1
        address = (
            f"p{self.counter}.{self.prefix.strip(':')}@example.org" if email is None else email
        )
        first, *others = components
        contact_id = self.peers.new_contact(
            first, email=address, first_name=first_name, last_name=last_name, phone=phone
        )
        for other in others:
            assert self.peers.join(other, address) == contact_id
        if consent != "none":
            self.peers.grant(contact_id, first)
        if consent == "withdrawn":
            self.peers.withdraw(contact_id, first)
        self.addresses[contact_id] = address
        return contact_id

    def address(self, contact_id: str) -> str:
        return self.addresses[contact_id]

    def send(
        self, contact_ids: list[str] | None, principal: Principal = SCIENCES, **changes: str
    ) -> str:
        audience = (
            Audience(AudienceKind.CONTACT_IDS, tuple(contact_ids))
            if contact_ids is not None
            else Audience(AudienceKind.ALL_OF_COMPONENT)
        )
        draft = Draft(
            name=changes.get("name", "News"),
            purpose=changes.get("purpose", "newsletter"),
            subject_template=changes.get("subject", "Bonjour {{ first_name }}"),
            body_template=changes.get("body", "Cher {{ display_name }}, {{ lettres.secret }}."),
            audience=audience,
        )
        service = self.campaigns.service
        campaign = service.create(principal, draft)
        service.send_now(principal, campaign.id)
        return campaign.id

    def drain(self, worker: str = "w1") -> None:
        drain(self.campaigns, worker)

    def ledger(self, campaign_id: str) -> dict[str, Delivery]:
        with self.campaigns.db.transaction() as session:
            rows = session.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id))
            return {row.contact_id: row for row in rows}

    def outcomes(self, campaign_id: str) -> dict[str, tuple[str, str | None]]:
        return {c: (r.outcome, r.rule) for c, r in self.ledger(campaign_id).items()}

    def status(self, campaign_id: str) -> str:
        return self.campaigns.service.get(SCIENCES, campaign_id).status

    def as_campaigns(self, authorization: str) -> bool:
        """True when a call's authorization is a valid bearer token of the campaigns service."""
        scheme, _, token = authorization.partition(" ")
        principal = self.keys.verifier.verify(token)
        identity = (principal.subject, principal.is_service)
        return scheme == "Bearer" and identity == ("service:campaigns", True)


def settings_for(
    db_url: str, keys: TestKeys, peers: Peers, smtp_port: int, prefix: str, **more: Any
) -> CampaignsSettings:
    values: dict[str, Any] = {
        "jwt_issuer": "crm-test",
        "jwt_audience": "crm-mesh",
        "jwt_public_key_file": keys.public_file,
        "service_keys_file": keys.service_keys_file,
        "service_private_key_file": keys.service_private_file("campaigns"),
        "database_url": db_url,
        "contacts_target": peers.contacts_target,
        "consent_target": peers.consent_target,
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,
        "smtp_port": smtp_port,
        "unsubscribe_secret": SECRET,
        "public_base_url": "https://crm.example.org",
        "pressure_max_per_window": 1,
        "batch_size": 50,
        "dispatch_threads": 0,
        "scheduler_enabled": False,
        "retry_delay_seconds": 0,
        **more,
    }
    return CampaignsSettings(**values)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Sink, int]]:
    with smtp_sink() as running:
        yield running


@pytest.fixture
def relay() -> Iterator[tuple[Sink, int]]:
    """An SMTP relay of one test alone, for the faults that test sets on it."""
    with smtp_sink() as running:
        yield running


def drain(campaigns: Campaigns, worker: str = "w1") -> None:
    """Dispatches until nothing is left to claim (retries included: their delay is 0)."""
    for _ in range(100):
        if not campaigns.dispatcher.run_once(worker):
            return
    raise AssertionError("dispatch never ran out of work")


@pytest.fixture(scope="module", params=["postgres+redis", "sqlite+memory"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_client: Any
) -> tuple[str, Any]:
    """The production stores, and the embedded ones a single machine runs on."""
    if request.param == "postgres+redis":
        return request.getfixturevalue("pg_url"), redis_client
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'campaigns.db'}"
    engine = make_engine(url)
    migrate_schema(engine)
    engine.dispose()
    return url, connect_redis("memory://")


@dataclass
class LegacyAddresses:
    """The real contacts directory, except for addresses an old import left behind.

    Contacts refuses such an address today, so only this road can still bring
    one to campaigns, which must then refuse to mail it.
    """

    real: GrpcDirectory
    legacy: dict[str, str]

    def resolve(
        self, component: str, purpose: str, contact_ids: Sequence[str], fields: Sequence[str] = ()
    ) -> list[Recipient]:
        return [
            replace(r, email=self.legacy.get(r.contact_id, r.email))
            for r in self.real.resolve(component, purpose, contact_ids, fields)
        ]

    def member_ids(self, component: str) -> Iterator[str]:
        return self.real.member_ids(component)


@pytest.fixture
def world(
    backend: tuple[str, Any], keys: TestKeys, peers: Peers, smtp: tuple[Sink, int]
) -> Iterator[World]:
    db_url, redis = backend
    sink, port = smtp
    prefix = redis_prefix()
    settings = settings_for(db_url, keys, peers, port, prefix)
    # The channels campaigns would open itself, with a log of every call on them.
    identity = settings.service_identity("campaigns")
    contacts_calls, consent_calls = CallLog(), CallLog()
    timeout = settings.rpc_timeout_seconds
    to_contacts = logged_channel(peers.contacts_target, identity.token, timeout, contacts_calls)
    to_consent = logged_channel(peers.consent_target, identity.token, timeout, consent_calls)
    legacy: dict[str, str] = {}
    campaigns = build(
        settings,
        redis=redis,
        directory=LegacyAddresses(GrpcDirectory(to_contacts, LIST_PAGE), legacy),
        consent=GrpcConsentGate(to_consent),
    )
    yield World(
        campaigns,
        peers,
        sink,
        prefix,
        redis,
        db_url,
        keys,
        port,
        contacts_calls,
        consent_calls,
        legacy=legacy,
    )
    campaigns.close()
    to_contacts.close()
    to_consent.close()
    delete_keys(redis, prefix)


@dataclass(frozen=True)
class Team:
    """A component registered for one use, and its members."""

    component: str
    members: list[str]


def new_team(peers: Peers, name: str, size: int, consenting: bool) -> Team:
    component = f"{name}-{uuid.uuid4().hex[:8]}"
    peers.add_component(component)
    tag = uuid.uuid4().hex[:8]
    members = peers.new_contacts(component, [f"m{i}.{tag}@example.org" for i in range(size)])
    if consenting:
        peers.grant_all(members, component)
    # Contacts of another component, which the team's audience must leave out.
    peers.new_contacts("lettres", [f"o{i}.{tag}@example.org" for i in range(2)])
    return Team(component, members)


@pytest.fixture(scope="module")
def crowd(peers: Peers) -> Team:
    """A component with one member more than fit in one page of contacts."""
    return new_team(peers, "crowd", LIST_PAGE + 1, consenting=False)


@pytest.fixture
def team(peers: Peers) -> Team:
    """A small component of its own whose members all consent."""
    return new_team(peers, "team", 3, consenting=True)


def test_each_recipient_gets_one_outcome_and_only_allowed_ones_get_mail(world: World) -> None:
    ok = world.person("sciences", first_name="Ada", last_name="Lovelace")
    shared = world.person("sciences", "lettres", first_name="Sacha")
    other = world.person("lettres")
    no_email = world.person("sciences", email="", phone="+33 1 02 03 04 05")
    refused_consent = world.person("sciences", consent="none")
    withdrawn = world.person("sciences", consent="withdrawn")
    bad_address = world.person("sciences")
    world.legacy[bad_address] = "ada lovelace@example.org\r\nBcc: everyone@example.org"
    ghost = str(uuid.uuid4())
    resolve_calls = world.contacts_calls.mark()
    check_calls = world.consent_calls.mark()
    connections = world.sink.connections

    ids = [ok, shared, other, no_email, refused_consent, withdrawn, bad_address, ghost]
    campaign_id = world.send(ids)
    world.drain()

    assert world.outcomes(campaign_id) == {
        ok: ("sent", "consent:consent_given"),
        shared: ("sent", "consent:consent_given"),
        other: ("not_member", "membership"),
        no_email: ("no_email", "membership"),
        refused_consent: ("no_consent", "consent:no_consent"),
        withdrawn: ("withdrawn", "consent:withdrawn"),
        bad_address: ("invalid_address", "address:syntax"),
        ghost: ("not_member", "membership"),  # an unknown id reads like a non-member
    }
    assert len(world.sink.to(world.address(ok))) == 1
    assert len(world.sink.to(world.address(shared))) == 1
    for contact_id in (other, refused_consent, withdrawn):
        assert world.sink.to(world.address(contact_id)) == []
    # One call per batch to each peer, for the component and purpose of the campaign.
    (resolve,) = world.contacts_calls.since(resolve_calls, "ResolveRecipients")
    (checked,) = world.consent_calls.since(check_calls, "CheckBatch")
    assert world.sink.connections == connections + 1  # one SMTP connection for the batch
    assert (resolve.request.component_id, resolve.request.purpose) == ("sciences", "newsletter")
    assert sorted(resolve.request.contact_ids) == sorted(ids)
    assert world.as_campaigns(resolve.authorization)
    assert world.as_campaigns(checked.authorization)
    check = checked.request
    assert (check.component_id, check.purpose, check.channel) == (
        "sciences",
        "newsletter",
        consent_pb2.CHANNEL_EMAIL,
    )
    assert sorted(i.contact_id for i in check.items) == sorted(
        [ok, shared, refused_consent, withdrawn, bad_address]
    )
    assert world.status(campaign_id) == "done"
    counts = world.campaigns.service.get(SCIENCES, campaign_id).outcome_counts
    assert counts == {
        "sent": 2,
        "not_member": 2,
        "no_email": 1,
        "no_consent": 1,
        "withdrawn": 1,
        "invalid_address": 1,
    }


def test_the_mail_has_its_headers_and_only_fields_contacts_gave(world: World) -> None:
    ada = world.person("sciences", first_name="Ada", last_name="Lovelace")
    # Another component of Ada's keeps a secret of its own: never for the sciences' mail.
    secret = world.peers.define_attribute("lettres", "secret")  # owner-only: no policy names it
    world.peers.join("lettres", world.address(ada), {secret: "dossier 42"})
    campaign_id = world.send([ada])
    world.drain()

    (mail,) = world.sink.to(world.address(ada))
    row = world.ledger(campaign_id)[ada]
    assert mail["Message-ID"] == row.message_id
    assert mail["Message-ID"].endswith("@crm.localhost>")
    assert mail["From"] == "Communication <no-reply@crm.localhost>"
    assert mail["To"] == world.address(ada)
    assert mail["Date"]
    assert mail["Subject"] == "Bonjour Ada"
    text, footer = mail.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n-- \n")
    assert text.strip() == "Cher Ada L., ."  # lettres.secret is not theirs: empty
    # The footer links to Ada's preference page, for this campaign, in French and English.
    (link,) = set(re.findall(r"https://crm\.example\.org/preferences/(\S+)", footer))
    preferences = PersonLinks(SECRET).verify(LinkKind.PREFERENCES, link)
    assert (preferences.contact_id, preferences.ref) == (ada, campaign_id)
    assert "Vos préférences" in footer and "Your preferences" in footer
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url, mailto = re.findall(r"<([^>]+)>", mail["List-Unsubscribe"])
    assert url.startswith("https://crm.example.org/unsubscribe/")
    token = url.rsplit("/", 1)[1]
    request = UnsubscribeTokens(SECRET).verify(token)
    assert (request.contact_id, request.purpose, request.campaign_id) == (
        ada,
        "newsletter",
        campaign_id,
    )
    assert mailto == f"mailto:unsubscribe@crm.localhost?subject=unsubscribe-{token}"
    headers = "\n".join(f"{k}: {v}" for k, v in mail.items() if k not in ("Subject", "To"))
    assert "Ada" not in headers


def test_the_global_cap_holds_across_campaigns(world: World) -> None:
    shared = world.person("sciences")
    first = world.send([shared])
    world.drain()
    second = world.send([shared], name="Relance")
    world.drain()
    assert world.outcomes(first)[shared] == ("sent", "consent:consent_given")
    assert world.outcomes(second)[shared] == ("deferred", "pressure:grouping:1/604800s")
    assert len(world.sink.to(world.address(shared))) == 1


def test_after_redis_loses_its_keys_the_ledger_still_caps(world: World) -> None:
    mailed = world.person("sciences")
    fresh = world.person("sciences")
    world.send([mailed])
    world.drain()
    assert delete_keys(world.redis, world.prefix) > 0  # Redis restarted empty

    second = world.send([mailed, fresh], name="Relance")
    world.drain()
    assert world.outcomes(second) == {
        mailed: ("deferred", "pressure:grouping:1/604800s"),
        fresh: ("sent", "consent:consent_given"),
    }
    assert len(world.sink.to(world.address(mailed))) == 1


def test_a_permanent_refusal_is_final_and_frees_the_slot(world: World) -> None:
    refused = world.person("sciences")
    world.sink.refuse[world.address(refused)] = "550 5.1.1 no such user"
    campaign_id = world.send([refused])
    world.drain()
    assert world.outcomes(campaign_id)[refused] == ("smtp_failed", "smtp:550")
    assert world.sink.rcpts[world.address(refused)] == 1  # one attempt, never retried
    assert world.sink.to(world.address(refused)) == []
    assert world.status(campaign_id) == "done"
    slots = world.campaigns.pressure.slots_key(refused)
    assert world.redis.zcard(slots) == 0


def test_a_temporary_refusal_leaves_the_row_pending_for_later(world: World) -> None:
    later = world.person("sciences")
    world.sink.refuse[world.address(later)] = "451 4.7.1 try again later"
    campaign_id = world.send([later])
    world.campaigns.dispatcher.run_once("w1")
    row = world.ledger(campaign_id)[later]
    assert (row.outcome, row.send_started_at, row.message_id) == ("pending", None, None)
    assert world.status(campaign_id) == "running"
    slots = world.campaigns.pressure.slots_key(later)
    assert world.redis.zcard(slots) == 0

    del world.sink.refuse[world.address(later)]
    world.drain()
    assert world.outcomes(campaign_id)[later] == ("sent", "consent:consent_given")
    assert len(world.sink.to(world.address(later))) == 1


def test_peers_or_relay_away_means_nothing_sent_and_nothing_lost(world: World) -> None:
    waiting = world.person("sciences")
    campaign_id = world.send([waiting])
    contacts_away = world.another_worker(contacts_target=f"127.0.0.1:{free_port()}")
    try:  # nothing listens where this worker looks for contacts
        contacts_away.dispatcher.run_once("w1")
    finally:
        contacts_away.close()
    assert world.outcomes(campaign_id)[waiting] == ("pending", None)

    dead_relay = world.another_worker(smtp_port=free_port())
    try:
        dead_relay.dispatcher.run_once("w2")
    finally:
        dead_relay.close()
    assert world.outcomes(campaign_id)[waiting] == ("pending", None)
    slots = world.campaigns.pressure.slots_key(waiting)
    assert world.redis.zcard(slots) == 0  # the slot went back with the row

    world.drain()
    assert world.outcomes(campaign_id)[waiting] == ("sent", "consent:consent_given")


def test_a_worker_killed_mid_batch_leaves_no_recipient_twice_or_lost(world: World) -> None:
    people = [world.person("sciences") for _ in range(5)]
    # A worker with a 1 s lease that "dies" right after its second mail left.
    doomed = world.another_worker(claim_lease_seconds=1, send_group_size=1)
    ledger = doomed.dispatcher._ledger  # noqa: SLF001
    real_mark, real_close = ledger.mark_group, ledger.close_group
    marks = 0

    def mark_or_die(*args: Any, **kwargs: Any) -> dict[int, int]:
        # Groups of one: a mail's outcome rides on the next mark. Die at the third mark,
        # which would have closed the second mail: nothing is written after a kill.
        nonlocal marks
        marks += 1
        if marks >= 3:
            raise RuntimeError("worker killed")
        return real_mark(*args, **kwargs)

    def dead(*args: Any, **kwargs: Any) -> None:
        if marks >= 3:
            raise RuntimeError("worker killed")
        real_close(*args, **kwargs)

    ledger.mark_group = mark_or_die  # type: ignore[method-assign]
    ledger.close_group = dead  # type: ignore[method-assign]
    campaign_id = world.send(people)
    try:
        with pytest.raises(RuntimeError, match="worker killed"):
            doomed.dispatcher.run_once("doomed")
    finally:
        doomed.close()
    outcomes = world.outcomes(campaign_id)
    assert [outcomes[p][0] for p in people] == ["sent", "pending", "pending", "pending", "pending"]

    time.sleep(1.2)  # let the dead worker's lease lapse
    world.drain("survivor")
    outcomes = world.outcomes(campaign_id)
    assert outcomes[people[1]] == ("unconfirmed", "smtp:worker_lost")  # left, never confirmed
    assert all(outcomes[p] == ("sent", "consent:consent_given") for p in people[2:])
    for person in people:
        assert len(world.sink.to(world.address(person))) == 1  # never twice, never lost


def test_a_whole_component_audience_is_read_page_by_page(world: World, crowd: Team) -> None:
    calls = world.contacts_calls.mark()
    campaign_id = world.send(None, principal=manager(crowd.component))
    assert set(world.ledger(campaign_id)) == set(crowd.members)
    list_calls = world.contacts_calls.since(calls, "AudienceIds")
    assert {c.request.component_id for c in list_calls} == {crowd.component}
    assert len(list_calls) == 2  # 1001 members: a full page, then the last one
    assert all(world.as_campaigns(c.authorization) for c in list_calls)


def test_a_whole_component_audience_is_mailed(world: World, team: Team) -> None:
    calls = world.contacts_calls.mark()
    campaign_id = world.send(None, principal=manager(team.component))
    assert set(world.ledger(campaign_id)) == set(team.members)
    (listed,) = world.contacts_calls.since(calls, "AudienceIds")
    assert listed.request.component_id == team.component
    assert world.as_campaigns(listed.authorization)
    world.drain()
    assert {o for o, _ in world.outcomes(campaign_id).values()} == {"sent"}


def test_a_campaign_started_twice_has_one_row_per_contact(world: World) -> None:
    person = world.person("sciences")
    campaign_id = world.send([person, person])
    with world.campaigns.db.transaction() as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status="draft"))
    world.campaigns.service.send_now(SCIENCES, campaign_id)
    assert list(world.ledger(campaign_id)) == [person]
    world.drain()
    assert len(world.sink.to(world.address(person))) == 1


def test_redis_losing_data_between_the_check_and_the_send_still_caps(world: World) -> None:
    # Worker A checks its batch, then, before it sends, Redis restarts empty and worker B
    # rebuilds the counters and mails the same contact for another campaign.
    contact = world.person("sciences")
    slow = world.another_worker()
    dispatcher = slow.dispatcher
    send_all = dispatcher._send_all  # noqa: SLF001

    def meanwhile(*args: Any) -> None:
        delete_keys(world.redis, world.prefix)
        other = world.send([contact], name="Other")
        world.drain("B")
        assert world.outcomes(other)[contact][0] == "sent"
        send_all(*args)

    dispatcher._send_all = meanwhile  # type: ignore[method-assign]  # noqa: SLF001
    first = world.send([contact])
    try:
        dispatcher.run_once("A")
    finally:
        slow.close()
    assert world.outcomes(first)[contact] == ("deferred", "pressure:grouping:1/604800s")
    assert len(world.sink.to(world.address(contact))) == 1


IMPATIENT = 1.0  # the SMTP timeout of the workers below, in seconds; the stall lasts 3 s


@pytest.mark.parametrize("fault", ["stall", "drop"])
def test_a_reply_lost_after_the_end_of_data_is_in_doubt_and_never_retried(
    world: World, relay: tuple[Sink, int], fault: str
) -> None:
    # RFC 1047: the relay has the whole mail, then its reply is lost (it stalls past our
    # timeout, or drops the connection). A retry would be a second copy in the inbox.
    sink, port = relay
    doubtful, next_one = world.person("sciences"), world.person("sciences")
    sink.after_data[world.address(doubtful)] = fault  # that one transaction only
    worker = world.another_worker(smtp_port=port, smtp_timeout_seconds=IMPATIENT)
    campaign_id = world.send([doubtful, next_one])
    try:
        drain(worker)
    finally:
        worker.close()

    (mail,) = sink.to(world.address(doubtful))  # exactly one copy, never a retry
    assert len(sink.to(world.address(next_one))) == 1  # the rest of the batch still left
    assert world.outcomes(campaign_id) == {
        doubtful: ("unconfirmed", "smtp:reply_lost"),
        next_one: ("sent", "consent:consent_given"),
    }
    assert world.ledger(campaign_id)[doubtful].message_id == mail["Message-ID"]
    assert world.status(campaign_id) == "done"  # nothing left pending
    counts = world.campaigns.service.get(SCIENCES, campaign_id).outcome_counts
    assert counts == {"unconfirmed": 1, "sent": 1}
    slots = world.campaigns.pressure.slots_key(doubtful)
    assert world.redis.zcard(slots) == 1  # the mail may have left: its slot stays counted

    # Redis loses its keys: the rebuild from the ledger counts the unconfirmed mail too.
    delete_keys(world.redis, world.prefix)
    again = world.send([doubtful], name="Relance")
    world.drain()
    assert world.outcomes(again)[doubtful] == ("deferred", "pressure:grouping:1/604800s")
    assert len(sink.to(world.address(doubtful))) + len(world.sink.to(world.address(doubtful))) == 1


@pytest.mark.parametrize(
    ("fault", "reply"),
    [("refuse_once", "451 4.2.0 mailbox busy"), ("after_data", "451 4.3.0 try again later")],
    ids=["at RCPT", "at the end of DATA"],
)
def test_a_temporary_refusal_is_retried_and_delivered_once(
    world: World, relay: tuple[Sink, int], fault: str, reply: str
) -> None:
    # A 4xx reply is the relay saying it did not take the mail: no doubt, a retry is safe.
    sink, port = relay
    later = world.person("sciences")
    getattr(sink, fault)[world.address(later)] = reply  # the first attempt only
    worker = world.another_worker(smtp_port=port, smtp_timeout_seconds=IMPATIENT)
    campaign_id = world.send([later])
    try:
        drain(worker)
    finally:
        worker.close()
    assert sink.rcpts[world.address(later)] == 2  # refused once, then accepted
    assert len(sink.to(world.address(later))) == 1
    assert world.outcomes(campaign_id)[later] == ("sent", "consent:consent_given")


def test_lines_starting_with_a_dot_arrive_as_written(world: World) -> None:
    # Dispatch writes the DATA payload itself: a lone "." line must not end the mail early.
    reader = world.person("sciences")
    body = "Avant\n.\n..deux points\n.fin"
    world.send([reader], body=body)
    world.drain()
    (mail,) = world.sink.to(world.address(reader))
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n-- \n")[0]
    assert text == body + "\n"


def test_a_purpose_consent_no_longer_checks_decides_the_rows_once_and_for_all(
    world: World,
) -> None:
    # Created while the purpose used email; an administrator then took email off it, so
    # consent answers CheckBatch with INVALID_ARGUMENT: asking again would never help.
    key = f"p-{uuid.uuid4().hex[:10]}"
    admin = [("authorization", f"Bearer {world.keys.admin()}")]
    world.peers.consent.CreatePurpose(
        consent_pb2.Purpose(
            key=key, label_fr="Essai", label_en="Trial", channels=[consent_pb2.CHANNEL_EMAIL]
        ),
        metadata=admin,
        timeout=10,
    )
    first, second = world.person("sciences"), world.person("sciences")
    campaign_id = world.send([first, second], purpose=key)
    world.peers.consent.UpdatePurpose(
        consent_pb2.UpdatePurposeRequest(
            key=key, fields=["channels"], channels=[consent_pb2.CHANNEL_POST]
        ),
        metadata=admin,
        timeout=10,
    )
    mark = world.consent_calls.mark()
    world.drain()
    assert world.outcomes(campaign_id) == {
        first: ("no_consent", "consent:unknown_purpose"),
        second: ("no_consent", "consent:unknown_purpose"),
    }
    assert world.status(campaign_id) == "done"
    assert len(world.consent_calls.since(mark, "CheckBatch")) == 1  # asked once, not forever
    assert world.sink.to(world.address(first)) == []
